package ai.nos.benchmarks.gpu;

import ai.nos.internal.torch.TorchRuntime;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AOTIModelContainerRunner;
import org.bytedeco.pytorch.AOTIModelContainerRunnerCpu;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.cuda.AOTIModelContainerRunnerCuda;
import org.bytedeco.pytorch.global.torch;

/**
 * Issue #5's question on the GPU machine (scripts/gpu/bench.sh aoti): does an AOTInductor library
 * compiled by the machine's torch (scripts/gpu/make_aoti.py) run in NOS's libtorch 2.10 through
 * the presets' AOTIModelContainerRunnerCpu/Cuda? One artifact per JVM (a native crash then loses
 * only that one): opens the library, runs the reference input, prints the relative error against
 * torch's output, and for a CUDA model the p50 latency at batch 1, 8, 64 and 256. Any failure is
 * printed as it came. Args: ARTIFACT.json (from make_aoti.py).
 */
public final class AotiProbe {
  private AotiProbe() {}

  public static void main(String[] args) throws Exception {
    Path json = Path.of(args[0]);
    JsonNode meta = new ObjectMapper().readTree(json.toFile());
    String name = json.getFileName().toString().replace(".json", "");
    String device = meta.get("device").asText();
    torch.ScalarType dtype = meta.path("dtype").asText("float32").equals("float16")
        ? torch.ScalarType.Half : torch.ScalarType.Float;
    long[] inShape = longs(meta.get("input"));
    Path dir = json.getParent();
    float[] input = floats(dir.resolve(name + ".input.f32"));
    float[] want = floats(dir.resolve(name + ".output.f32"));
    TorchRuntime.ensureLoaded();
    for (JsonNode so : meta.get("so")) {
      String lib = so.asText();
      System.out.printf("AotiProbe %s (%s, compiled by torch %s): %s%n", name, device,
          meta.get("torch").asText(), lib);
      try (PointerScope scope = new PointerScope()) {
        AOTIModelContainerRunner runner = device.equals("cpu")
            ? new AOTIModelContainerRunnerCpu(lib)
            : new AOTIModelContainerRunnerCuda(lib, 1, "cuda:0",
                Path.of(lib).getParent().toString(), false);
        float[] got = run(runner, input, inShape, device, dtype);
        double scale = 0;
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
          scale = Math.max(scale, Math.abs(want[i]));
          worst = Math.max(worst, Math.abs(want[i] - got[i]));
        }
        System.out.printf("  ran: %d outputs, relative error against torch %.2e%n", got.length,
            worst / scale);
        if (!device.equals("cpu")) {
          for (int batch : new int[] {1, 8, 64, 256}) {
            long[] shape = inShape.clone();
            shape[0] = batch;
            float[] x = new float[(int) (input.length / inShape[0] * batch)];
            List<Long> times = new ArrayList<>();
            for (int i = 0; i < 30; i++) {
              long t0 = System.nanoTime();
              run(runner, x, shape, device, dtype);
              if (i >= 10) {
                times.add(System.nanoTime() - t0);
              }
            }
            Collections.sort(times);
            long p50 = times.get(times.size() / 2);
            System.out.printf("  | NOS AOTInductor (probe) | %d | %.0f images/s | p50 %.2f ms |%n",
                batch, batch / (p50 / 1e9), p50 / 1e6);
          }
        }
      } catch (Throwable t) {
        System.out.println("  failed: " + t.getClass().getName() + ": " + t.getMessage());
      }
    }
  }

  /** Host input to the device, the runner, the first output back to the host. */
  private static float[] run(AOTIModelContainerRunner runner, float[] input, long[] shape,
      String device, torch.ScalarType dtype) {
    try (PointerScope scope = new PointerScope()) {
      Tensor host = torch.from_blob(new FloatPointer(input), shape);
      Tensor x = device.equals("cpu") ? host.to(dtype)
          : host.to(new org.bytedeco.pytorch.Device(device), dtype, false, true,
              new org.bytedeco.pytorch.MemoryFormatOptional());
      TensorVector out = runner.run(new TensorVector(x));
      Tensor y = out.get(0).cpu().to(torch.ScalarType.Float).contiguous();
      float[] result = new float[(int) y.numel()];
      new FloatPointer(y.data_ptr()).get(result);
      return result;
    }
  }

  private static long[] longs(JsonNode array) {
    long[] out = new long[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asLong();
    }
    return out;
  }

  private static float[] floats(Path file) throws java.io.IOException {
    var fb = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN)
        .asFloatBuffer();
    float[] out = new float[fb.remaining()];
    fb.get(out);
    return out;
  }
}
