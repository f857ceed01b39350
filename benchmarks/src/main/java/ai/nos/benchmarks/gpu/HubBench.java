package ai.nos.benchmarks.gpu;

import ai.nos.Model;
import ai.nos.Nos;
import ai.nos.hub.Downloader;
import ai.nos.hub.Hub;
import ai.nos.hub.ImageClassifier;
import ai.nos.hub.ImageEmbedder;
import ai.nos.hub.ObjectDetector;
import ai.nos.hub.RgbImage;
import ai.nos.hub.TextEmbedder;
import ai.nos.internal.torch.TorchRuntime;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.LongAdder;

/**
 * The nos-hub table of issue #6 on the GPU machine (scripts/gpu/bench.sh hub): every builtin
 * catalog entry, exported with random weights by scripts/hub/export_models.py, fetched through
 * the {@link Downloader} from a {@code file:} base URI (lock files verified) and served through its
 * task facade on the default device (CUDA). Per task: p50 latency of one caller (pre-processing,
 * inference and post-processing of one 640x480 photo-sized image or one sentence), and the
 * throughput of 16 callers. The image tasks run twice: as the hub loads them (pre-processing on
 * the model's device, the facade sends decoded pixels) and with the Java pre-processing (the
 * model loaded from {@code hub.spec}, float32 input, the facade's {@code of}); the "pre" column
 * says which. Args: EXPORT_DIR SECONDS.
 */
public final class HubBench {
  private HubBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]).toAbsolutePath();
    double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 3;
    Hub hub = Hub.builder().baseUri(URI.create(dir.toUri().toString())).build();
    Downloader downloader = Downloader.builder()
        .cacheDir(Files.createTempDirectory("nos-hub-cache")).build();
    Random random = new Random(1);
    byte[] rgb = new byte[640 * 480 * 3];
    random.nextBytes(rgb);
    RgbImage image = RgbImage.of(640, 480, rgb);
    String text = "A photo of a small dog running on the beach at sunset, seen from far away.";
    System.out.printf("HubBench: %s, 640x480 image, a %d-character sentence%n",
        TorchRuntime.cudaDeviceName(0), text.length());
    System.out.println("| task | catalog id | pre | p50 ms (1 caller) | calls/s (1 caller) |"
        + " calls/s (16 callers) |");
    System.out.println("|---|---|---|---|---|---|");
    for (String id : new String[] {"torchvision/resnet50", "google/vit-base-patch16-224"}) {
      bothPaths("image classification", id, hub, downloader, seconds,
          () -> ImageClassifier.load(hub, id, downloader),
          m -> ImageClassifier.of(m, hub.entry(id)),
          c -> () -> c.classify(image, 5));
    }
    String clip = "openai/clip-vit-base-patch32/image";
    bothPaths("image embedding", clip, hub, downloader, seconds,
        () -> ImageEmbedder.load(hub, clip, downloader),
        m -> ImageEmbedder.of(m, hub.entry(clip)),
        e -> () -> e.embed(image));
    try (TextEmbedder e = TextEmbedder.load(hub, "openai/clip-vit-base-patch32/text",
        downloader)) {
      row("text embedding", "openai/clip-vit-base-patch32/text | -", () -> e.embed(text),
          seconds);
    }
    try (TextEmbedder e = TextEmbedder.load(hub, "sentence-transformers/all-MiniLM-L6-v2",
        downloader)) {
      row("sentence embedding", "sentence-transformers/all-MiniLM-L6-v2 | -",
          () -> e.embed(text), seconds);
    }
    String yolo = "ultralytics/yolov8n";
    bothPaths("object detection", yolo, hub, downloader, seconds,
        () -> ObjectDetector.load(hub, yolo, downloader),
        m -> ObjectDetector.of(m, hub.entry(yolo)),
        d -> () -> d.detect(image));
    System.exit(0);
  }

  /**
   * Two rows for an image task: the facade as the hub loads it (pre-processing on the device),
   * then over the model loaded from {@code hub.spec} (float input, Java pre-processing).
   */
  private static <F extends AutoCloseable> void bothPaths(String task, String id, Hub hub,
      Downloader downloader, double seconds, java.util.function.Supplier<F> load,
      java.util.function.Function<Model, F> over, java.util.function.Function<F, Timing.Call> call)
      throws Exception {
    try (F facade = load.get()) {
      row(task, id + " | device", call.apply(facade), seconds);
    }
    try (Model m = Nos.load(hub.spec(id, downloader)); F facade = over.apply(m)) {
      row(task, id + " | Java", call.apply(facade), seconds);
    }
  }

  private static void row(String task, String id, Timing.Call call, double seconds)
      throws Exception {
    List<Long> times = Timing.sortedNanos(call, seconds);
    long p50 = times.get(times.size() / 2);
    double one = times.size() / (times.stream().mapToLong(Long::longValue).sum() / 1e9);
    ExecutorService pool = Executors.newFixedThreadPool(16);
    LongAdder calls = new LongAdder();
    long t0 = System.nanoTime();
    long stop = t0 + (long) (seconds * 1e9);
    List<Future<?>> fs = new ArrayList<>();
    for (int t = 0; t < 16; t++) {
      fs.add(pool.submit(() -> {
        while (System.nanoTime() < stop) {
          call.run();
          calls.increment();
        }
        return null;
      }));
    }
    for (Future<?> f : fs) {
      f.get();
    }
    pool.shutdown();
    double many = calls.sum() / ((System.nanoTime() - t0) / 1e9);
    System.out.printf("| %s | %s | %.2f | %.0f | %.0f |%n", task, id, p50 / 1e6, one, many);
  }
}
