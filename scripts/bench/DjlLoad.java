import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import java.time.Instant;
import java.util.Locale;

/**
 * DJL's side of NativeLoad (issue 20 item 5): a fresh JVM's load of DJL 0.36's PyTorch engine
 * (libtorch 2.7.1 from its CPU native jar, its own small JNI library), and its first tensor. Run
 * by scripts/bench/native-load.sh with DJL's jars only. One line:
 * {@code djl-load jvm-to-main-ms A engine-ms B first-tensor-ms C} (jvm-to-main from the launch
 * time the script passes as {@code -Dnative.load.launched}, epoch nanoseconds).
 */
public final class DjlLoad {
  private static final long START = System.nanoTime();

  public static void main(String[] args) {
    String launched = System.getProperty("native.load.launched");
    Instant now = Instant.now();
    double jvmToMain = launched == null ? Double.NaN
        : (now.getEpochSecond() * 1e9 + now.getNano() - Double.parseDouble(launched)) / 1e6
            - ms();
    double t0 = ms();
    Engine engine = Engine.getEngine("PyTorch");
    double loaded = ms();
    try (NDManager manager = engine.newBaseManager()) {
      manager.ones(new ai.djl.ndarray.types.Shape(2, 2)).toFloatArray();
    }
    double tensor = ms();
    System.out.printf(Locale.ROOT, "djl-load jvm-to-main-ms %.1f engine-ms %.1f first-tensor-ms"
        + " %.1f%n", jvmToMain, loaded - t0, tensor - loaded);
  }

  private static double ms() {
    return (System.nanoTime() - START) / 1e6;
  }
}
