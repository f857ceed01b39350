package ai.nos.hub;

import ai.nos.Artifact;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.Nos;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Image embeddings over a loaded model: an image in, a vector out, L2-normalized when the entry
 * says so ({@link CatalogEntry#normalize()}).
 *
 * <pre>{@code
 * try (ImageEmbedder embedder = ImageEmbedder.load(
 *     Hub.shared(), "openai/clip-vit-base-patch32/image", Downloader.builder().build())) {
 *   float[] vector = embedder.embed(RgbImage.read(Path.of("cat.jpg")));
 * }
 * }</pre>
 *
 * <p>The image is prepared as the entry's {@link ImagePreprocessing} says, on the CPU in Java
 * (see {@link ImageClassifier}); the vector is the model's first output. Pre-processing on the
 * model's device is left for a later change.
 *
 * <p><b>Thread-safety</b>: safe to call from any number of threads at once. {@link #close()} may
 * be called at any time: later calls fail, running ones finish.
 */
public final class ImageEmbedder implements AutoCloseable {

  private static final String NAME = "ImageEmbedder";

  private final TaskModel task;
  private final ImagePreprocessing preprocessing;
  private final String input;

  private ImageEmbedder(TaskModel task) {
    this.task = task;
    this.preprocessing = task.entry().image().orElseThrow();
    this.input = TaskModel.imageInput(NAME, task.model()).name();
  }

  /**
   * Fetches a catalog model of task {@link Task#IMAGE_EMBEDDING} and loads it with
   * {@link Nos#load}; closing the embedder closes the model.
   *
   * @throws IllegalArgumentException if an argument is null, the id is unknown, or its entry has
   *     another task (checked before anything is downloaded)
   * @throws DownloadException if a file cannot be fetched or verified
   * @throws ai.nos.ModelLoadException if the model cannot be loaded
   */
  public static ImageEmbedder load(Hub hub, String id, Downloader downloader) {
    return TaskModel.load(NAME, Task.IMAGE_EMBEDDING, hub, id, downloader, Nos::load,
        ImageEmbedder::owning);
  }

  /**
   * As {@link #load(Hub, String, Downloader)}, loading the model through {@code manager}.
   *
   * @throws IllegalArgumentException also if {@code manager} is null
   */
  public static ImageEmbedder load(Hub hub, String id, Downloader downloader,
      ModelManager manager) {
    if (manager == null) {
      throw new IllegalArgumentException("manager must not be null");
    }
    return TaskModel.load(NAME, Task.IMAGE_EMBEDDING, hub, id, downloader, manager::load,
        ImageEmbedder::owning);
  }

  static ImageEmbedder owning(Model model, CatalogEntry entry, Map<String, Artifact> files) {
    return new ImageEmbedder(new TaskModel(NAME, model, entry, List.of(model)));
  }

  /**
   * An embedder over a model the caller loaded and keeps owning (closing the embedder leaves it
   * open).
   *
   * @throws IllegalArgumentException if an argument is null, the entry's task is not
   *     {@link Task#IMAGE_EMBEDDING}, or the model does not take one float32 input
   */
  public static ImageEmbedder of(Model model, CatalogEntry entry) {
    TaskModel.check(NAME, model, entry, Task.IMAGE_EMBEDDING);
    return new ImageEmbedder(new TaskModel(NAME, model, entry, List.of()));
  }

  /**
   * Returns the embedding of an image.
   *
   * @throws IllegalArgumentException if {@code image} is null
   * @throws IllegalStateException if the embedder is closed, or the model returned an output
   *     whose first dimension is not 1 (the rows of {@code [2, dim]} would be flattened into one
   *     vector) or a NaN or infinite value (normalizing would hide an infinity as 0 and NaN)
   * @throws ai.nos.InferenceException if the model fails
   */
  public float[] embed(RgbImage image) {
    if (image == null) {
      throw new IllegalArgumentException("image must not be null");
    }
    return task.call(() -> {
      Tensor tensor = ImageTensors.input(task.model(), input, image, preprocessing).tensor();
      Tensor out = ImageClassifier.first(task.model().infer(Map.of(input, tensor)));
      String id = task.model().spec().id();
      float[] vector = out.toFloatArray();
      if (out.rank() > 1 && out.dim(0) != 1) {
        throw new IllegalStateException("model '" + id + "' returned an output of shape "
            + Arrays.toString(out.shape()) + " for one image; " + NAME + " needs the output of"
            + " one image, [1, dim]");
      }
      Vectors.checkFinite(vector, id, NAME);
      return task.entry().normalize() ? Vectors.l2Normalize(vector) : vector;
    });
  }

  /** The catalog entry whose settings this embedder applies. */
  public CatalogEntry entry() {
    return task.entry();
  }

  /**
   * Refuses new calls; the model, if this embedder loaded it, is closed when running calls end.
   * Idempotent.
   */
  @Override
  public void close() {
    task.close();
  }
}
