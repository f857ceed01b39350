package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The first copy with CUDA graphs on a device is booked at the same footprint as the second: the
 * one-time library state of the device's recording thread (its cuBLAS and cuBLASLt workspaces on
 * the capture stream, its cuBLAS and cuDNN handles) is booked as the device's overhead, made
 * before the copy is measured. Before, the first capture made it inside the first graphs copy's
 * measurement (benchmarks' SwapBench probed twice around it). Runs in a fresh JVM, since in this
 * one an earlier test's capture may have made that state already. ResNet-50 comes from
 * {@code -Dnos.resnet50.dir=DIR} (scripts/models/make_resnet50.py).
 */
@Tag("gpu")
final class GraphsFootprintGpuTest {
  /**
   * How far apart two copies of one model may measure: the caching allocator's rounding and
   * little else differ between them, while the state this test is about is at least a cuBLAS
   * workspace (32 MiB on sm_90; the first graphs copy measured 64 MiB more on an H200).
   */
  private static final long TOLERANCE = 4L << 20;

  @Test
  void resnet50Fp16Graphs_firstCopyOnAFreshDevice_measuresAsTheSecond() throws Exception {
    Path dir = Path.of(System.getProperty("nos.resnet50.dir", "resnet50"));
    assertTrue(Files.isRegularFile(dir.resolve("resnet50.pt")),
        "make it with scripts/models/make_resnet50.py: " + dir);
    List<String> cmd = List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g",
        "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp", System.getProperty("java.class.path"), FourCopies.class.getName(),
        dir.toString());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(300, TimeUnit.SECONDS), "child JVM did not end");
    System.out.println("GraphsFootprintGpuTest: child:\n" + out);
    assertEquals(0, p.exitValue(), out);
    for (String id : new String[] {"graphs-1", "graphs-2"}) {
      assertTrue(value(out, id + ".steps").contains("cuda_graphs"),
          id + " must run recorded graphs, or this test measures nothing: " + out);
    }
    long first = Long.parseLong(value(out, "graphs-1.bytes"));
    long second = Long.parseLong(value(out, "graphs-2.bytes"));
    assertTrue(Math.abs(first - second) <= TOLERANCE, "the first copy with CUDA graphs measured "
        + first + " B, the second " + second + " B (" + (first - second) + " B apart; at most "
        + TOLERANCE + " allowed)");
    // Every other NOS thread was warmed by the plain copies: what the graphs copies add to the
    // device's overhead is the recording thread's state.
    assertTrue(Long.parseLong(value(out, "overhead.after-graphs"))
        > Long.parseLong(value(out, "overhead.before-graphs")),
        "the recording thread's state must be booked as the device's overhead: " + out);
  }

  private static String value(String out, String key) {
    return out.lines().filter(l -> l.startsWith(key + "=")).findFirst()
        .map(l -> l.substring(key.length() + 1))
        .orElseThrow(() -> new AssertionError("no " + key + " in the child's output:\n" + out));
  }

  /**
   * In a fresh JVM: two plain copies first, so that the one-time state of every other NOS thread
   * is made and booked before any graphs copy (the first is batched: its load runs more than one
   * row eagerly on the loader thread, and its batch workers warm up; the second is not: the
   * device's call threads warm up), then two copies with CUDA graphs; prints each copy's booked
   * bytes and steps, and the device's overhead before and after the graphs copies.
   */
  public static final class FourCopies {
    public static void main(String[] args) {
      try {
        run(Path.of(args[0]));
        System.out.flush();
        System.exit(0);
      } catch (Throwable e) {
        e.printStackTrace(System.out);
        System.out.flush();
        System.exit(1);
      }
    }

    private static void run(Path dir) {
      float[] pixels = new float[3 * 224 * 224];
      java.util.Random r = new java.util.Random(7);
      for (int i = 0; i < pixels.length; i++) {
        pixels[i] = r.nextFloat();
      }
      Map<String, Tensor> image = Map.of("image", Tensor.of(pixels, 1, 3, 224, 224));
      try (ModelManager m = ModelManager.builder().devices(Device.cuda(0)).noFootprintCatalog()
          .build()) {
        m.load(spec(dir, "plain-1", false).toBuilder().batching(Batching.ofMaxBatchSize(4))
            .build()).infer(image);
        print(m, "plain-1");
        m.load(spec(dir, "plain-2", false)).infer(image);
        print(m, "plain-2");
        System.out.println("overhead.before-graphs=" + m.stats().get(0).overheadBytes());
        for (String id : new String[] {"graphs-1", "graphs-2"}) {
          m.load(spec(dir, id, true)).infer(image);
          print(m, id);
        }
        System.out.println("overhead.after-graphs=" + m.stats().get(0).overheadBytes());
      }
    }

    private static ModelSpec spec(Path dir, String id, boolean graphs) {
      return ModelSpec.builder().id(id).artifact(dir.resolve("resnet50.pt"))
          .signature(Signature.builder().input("image", DType.FLOAT32, -1, 3, 224, 224)
              .output("logits", DType.FLOAT32, -1, 1000).build())
          .device("cuda:0").precision(Precision.FP16)
          .optimize(graphs ? new Optimization[] {Optimization.AUTO, Optimization.CUDA_GRAPHS}
              : new Optimization[] {Optimization.AUTO})
          .build();
    }

    private static void print(ModelManager m, String id) {
      ModelInfo info = m.models().stream().filter(i -> i.id().equals(id)).findFirst()
          .orElseThrow();
      System.out.println(id + ".bytes=" + info.bytes());
      System.out.println(id + ".steps=" + info.optimizations());
    }
  }
}
