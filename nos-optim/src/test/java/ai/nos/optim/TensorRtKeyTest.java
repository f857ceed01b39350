package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import ai.nos.ModelSpec;
import ai.nos.Precision;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TensorRT step's cache keys: the fp16 and fp32 keys are the ones engines were cached under
 * before INT8 existed (a changed key would rebuild every cached engine, minutes each), and an INT8
 * key differs from them and from every other calibration set's.
 */
final class TensorRtKeyTest {
  @TempDir static Path dir;

  private static Path onnx() throws Exception {
    Path onnx = dir.resolve("digits.onnx");
    if (!Files.exists(onnx)) {
      Files.write(onnx, new byte[] {8, 7, 6, 5});
    }
    return onnx;
  }

  private static CacheKey key(ModelSpec spec, Calibration calibration) throws Exception {
    return TensorRtStep.key(spec, CacheKey.sha256Of(onnx()), "sm_90", "10.6.0", "13.1",
        calibration);
  }

  /** What TensorRtStep built its key from before INT8, spelled out. */
  private static CacheKey before(ModelSpec spec, int maxBatch) throws Exception {
    boolean fp16 = spec.precision() == Precision.FP16;
    return CacheKey.builder().sourceFile(onnx())
        .option("step", "tensorrt")
        .option("precision", spec.precision().label())
        .option("batch", "1.." + maxBatch + " opt " + maxBatch)
        .deviceArch("sm_90")
        .version("tensorrt", "10.6.0").version("cuda", "13.1")
        .option("tf32", fp16 ? "n/a" : "off")
        .option("io", fp16 ? "half" : "float")
        .version("nos-optim", "2").build();
  }

  @Test
  void fp16AndFp32Keys_areThoseOfBeforeInt8() throws Exception {
    ModelSpec fp32 = TestModels.digits();
    ModelSpec fp16 = fp32.toBuilder().precision(Precision.FP16).maxBatchSize(64).build();
    assertEquals(before(fp32, 32).hash(), key(fp32, null).hash());
    assertEquals(before(fp16, 64).hash(), key(fp16, null).hash());
    assertEquals(before(fp16, 64), key(fp16, null));
  }

  @Test
  void int8Key_differsFromFp16s_andByCalibrationData() throws Exception {
    ModelSpec fp16 = TestModels.digits().toBuilder().precision(Precision.FP16).build();
    Calibration a = Calibration.of(CalibrationTest.digits(8, 16, 0));
    CacheKey int8 = key(fp16, a);
    assertNotEquals(key(fp16, null).hash(), int8.hash());
    assertEquals("int8-entropy2", int8.options().get("quantization"));
    assertEquals("float", int8.options().get("io"), "an INT8 engine keeps float inputs");
    assertEquals("sha256:" + a.sha256() + " rows 16 batches 8", int8.options().get("calibration"));

    // The same data in new objects, another tolerance: the same engine.
    Calibration same = Calibration.builder(CalibrationTest.digits(8, 16, 0)).tolerance(0.2)
        .build();
    assertEquals(int8.hash(), key(fp16, same).hash());
    // Other pixels, fewer batches, another precision: another engine each.
    assertNotEquals(int8.hash(), key(fp16, Calibration.of(CalibrationTest.digits(8, 16, 1)))
        .hash());
    assertNotEquals(int8.hash(), key(fp16, Calibration.of(CalibrationTest.digits(7, 16, 0)))
        .hash());
    assertNotEquals(int8.hash(), key(fp16.toBuilder().precision(Precision.FP32).build(), a)
        .hash());
  }
}
