package ai.nos.benchmarks;

import ai.nos.DType;
import ai.nos.Device;
import ai.nos.ImageInput;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import ai.nos.Signature;
import ai.nos.hub.CatalogArtifact;
import ai.nos.hub.CatalogEntry;
import ai.nos.hub.ImageEmbedder;
import ai.nos.hub.ImagePreprocessing;
import ai.nos.hub.RgbImage;
import ai.nos.hub.Task;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Image pre-processing of a facade call on the CPU, the two paths side by side: ResNet-50's
 * settings (shorter side 232, bilinear, centre crop 224, ImageNet mean/std) on a 640x480 image,
 * through {@link ImageEmbedder} over the identity fixture, so the call is the pre-processing
 * plus copying the 224x224 result back. {@code java}: the Pillow-exact Java resampler, a float
 * tensor to the model; {@code libtorch}: the pixels to the model as bytes, resized and
 * normalized there ({@link ImageInput}; on a GPU this runs on the device).
 */
@State(Scope.Benchmark)
@Fork(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class PreprocessBenchmark {
  @Param({"java", "libtorch"})
  String path;

  private Model model;
  private ImageEmbedder embedder;
  private RgbImage image;

  @Setup(Level.Trial)
  public void setUp() {
    Path identity = DigitInputs.models().resolve("fixtures/identity.pt").toAbsolutePath();
    ImagePreprocessing p = ImagePreprocessing.builder().resize(232).crop(224)
        .mean(0.485, 0.456, 0.406).std(0.229, 0.224, 0.225).build();
    Signature floats = Signature.builder().input("image", DType.FLOAT32, -1, 3, 224, 224)
        .output("y", DType.FLOAT32, -1, 3, 224, 224).build();
    ModelSpec spec = ModelSpec.builder().id("preprocess-" + path).artifact(identity)
        .signature(floats).device("cpu").build();
    if (path.equals("libtorch")) {
      spec = spec.toBuilder().signature(Signature.builder()
          .input("image", DType.UINT8, -1, -1, -1, 3)
          .output("y", DType.FLOAT32, -1, 3, 224, 224).build())
          .imageInput("image", ImageInput.resizeTo(232).crop(224).normalize(
              new float[] {0.485f, 0.456f, 0.406f}, new float[] {0.229f, 0.224f, 0.225f})
              .build())
          .build();
    }
    CatalogEntry entry = CatalogEntry.builder().id("preprocess").task(Task.IMAGE_EMBEDDING)
        .artifact(CatalogArtifact.of(CatalogArtifact.MODEL, identity.toUri().toString()))
        .signature(floats).device(Device.cpu()).image(p).build();
    model = Nos.load(spec);
    embedder = ImageEmbedder.of(model, entry);
    byte[] rgb = new byte[640 * 480 * 3];
    new Random(1).nextBytes(rgb);
    image = RgbImage.of(640, 480, rgb);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    embedder.close();
    model.close();
  }

  @Benchmark
  public float[] embed() {
    return embedder.embed(image);
  }
}
