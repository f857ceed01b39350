package ai.nos.hub;

import ai.nos.Artifact;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.Nos;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Image classification over a loaded model: an image in, the {@code k} most likely classes out.
 *
 * <pre>{@code
 * try (ImageClassifier classifier =
 *     ImageClassifier.load(Hub.shared(), "torchvision/resnet50", Downloader.builder().build())) {
 *   List<Classification> top5 = classifier.classify(RgbImage.read(Path.of("cat.jpg")), 5);
 * }
 * }</pre>
 *
 * <p>The image is resized, cropped and normalized as the entry's {@link ImagePreprocessing} says,
 * as the entry's Python pipeline does (torchvision on PIL images, or transformers' torchvision
 * processors). A classifier made by {@code load} gives the model a uint8 pixel input
 * pre-processed on the model's device ({@link ai.nos.ImageInput}); one made by {@code of} over a
 * model with a float32 input (and entries that batch their calls) does it on the CPU in Java,
 * with the pipeline's own resampler, the reference the device path is tested against. The model's
 * first output holds one logit per class, and the scores are their softmax.
 *
 * <p><b>Thread-safety</b>: safe to call from any number of threads at once; the model runs the
 * calls concurrently. {@link #close()} may be called at any time: later calls fail, running ones
 * finish.
 */
public final class ImageClassifier implements AutoCloseable {

  private static final String NAME = "ImageClassifier";

  private final TaskModel task;
  private final ImagePreprocessing preprocessing;
  private final List<String> labels;
  private final String input;

  private ImageClassifier(TaskModel task, List<String> labels) {
    this.task = task;
    this.preprocessing = task.entry().image().orElseThrow();
    this.labels = labels;
    this.input = TaskModel.imageInput(NAME, task.model()).name();
    List<TensorSpec> outputs = task.model().spec().signature().outputs();
    TensorSpec scores = outputs.get(0);
    Labels.checkCount(NAME, task.entry().id(), labels,
        scores.rank() == 0 ? -1 : scores.dim(scores.rank() - 1));
  }

  /**
   * Fetches a catalog model of task {@link Task#IMAGE_CLASSIFICATION} and its labels, and loads
   * it with {@link Nos#load}; closing the classifier closes the model.
   *
   * @throws IllegalArgumentException if an argument is null, the id is unknown, or its entry has
   *     another task (checked before anything is downloaded)
   * @throws DownloadException if a file cannot be fetched or verified
   * @throws ai.nos.ModelLoadException if the model cannot be loaded
   */
  public static ImageClassifier load(Hub hub, String id, Downloader downloader) {
    return TaskModel.load(NAME, Task.IMAGE_CLASSIFICATION, hub, id, downloader, Nos::load,
        ImageClassifier::owning);
  }

  /**
   * As {@link #load(Hub, String, Downloader)}, loading the model through {@code manager}.
   *
   * @throws IllegalArgumentException also if {@code manager} is null
   */
  public static ImageClassifier load(Hub hub, String id, Downloader downloader,
      ModelManager manager) {
    if (manager == null) {
      throw new IllegalArgumentException("manager must not be null");
    }
    return TaskModel.load(NAME, Task.IMAGE_CLASSIFICATION, hub, id, downloader, manager::load,
        ImageClassifier::owning);
  }

  static ImageClassifier owning(Model model, CatalogEntry entry,
      Map<String, Artifact> files) {
    return new ImageClassifier(new TaskModel(NAME, model, entry, List.of(model)),
        Labels.of(entry, files));
  }

  /**
   * A classifier over a model the caller loaded and keeps owning (closing the classifier leaves
   * it open), with the entry's inline labels; without labels, classes are labelled by index.
   *
   * @throws IllegalArgumentException if an argument is null, the entry's task is not
   *     {@link Task#IMAGE_CLASSIFICATION}, the model does not take one float32 input, or its
   *     fixed class count differs from the number of labels
   */
  public static ImageClassifier of(Model model, CatalogEntry entry) {
    TaskModel.check(NAME, model, entry, Task.IMAGE_CLASSIFICATION);
    return new ImageClassifier(new TaskModel(NAME, model, entry, List.of()), entry.labels());
  }

  /**
   * As {@link #of(Model, CatalogEntry)} with the given labels, in class order, such as those of
   * the entry's {@value CatalogEntry#LABELS} file.
   *
   * @throws IllegalArgumentException also if {@code labels} or a label is null
   */
  public static ImageClassifier of(Model model, CatalogEntry entry, List<String> labels) {
    TaskModel.check(NAME, model, entry, Task.IMAGE_CLASSIFICATION);
    return new ImageClassifier(new TaskModel(NAME, model, entry, List.of()),
        Labels.check(labels));
  }

  /**
   * Returns the {@code k} most likely classes, most likely first; equal scores in class order.
   * Fewer when the model has fewer classes.
   *
   * @throws IllegalArgumentException if {@code image} is null or {@code k < 1}
   * @throws IllegalStateException if the classifier is closed, or the model returned another
   *     number of scores than there are labels, more than one row of them, a NaN or +Infinity,
   *     or -Infinity for every class (the message names the model and the class)
   * @throws ai.nos.InferenceException if the model fails
   */
  public List<Classification> classify(RgbImage image, int k) {
    if (image == null) {
      throw new IllegalArgumentException("image must not be null");
    }
    if (k < 1) {
      throw new IllegalArgumentException("k must be at least 1 but was " + k);
    }
    return task.call(() -> {
      Tensor tensor = ImageTensors.input(task.model(), input, image, preprocessing).tensor();
      Map<String, Tensor> outputs = task.model().infer(Map.of(input, tensor));
      float[] probabilities = Vectors.softmax(logits(first(outputs)));
      List<Classification> result = new ArrayList<>();
      for (int i : Vectors.topK(probabilities, k)) {
        result.add(new Classification(
            Labels.label(labels, i, task.entry().id(), probabilities.length), i,
            probabilities[i]));
      }
      return List.copyOf(result);
    });
  }

  /**
   * The logits of one image: one row, finite or -Infinity (a class the model rules out), at least
   * one finite. A NaN or +Infinity would make every score NaN, and a second row would pass for
   * more classes.
   */
  private float[] logits(Tensor out) {
    String id = task.model().spec().id();
    float[] logits = out.toFloatArray();
    if (out.rank() == 0 || logits.length != out.dim(out.rank() - 1)) {
      throw new IllegalStateException("model '" + id + "' returned logits of shape "
          + Arrays.toString(out.shape()) + " for one image; " + NAME + " needs one row of class"
          + " logits, [1, classes]");
    }
    boolean finite = false;
    for (int i = 0; i < logits.length; i++) {
      if (Float.isNaN(logits[i]) || logits[i] == Float.POSITIVE_INFINITY) {
        throw new IllegalStateException("model '" + id + "' returned logit " + logits[i]
            + " for class " + i + "; " + NAME + " needs finite logits (or -Infinity for a class"
            + " ruled out)");
      }
      finite |= logits[i] != Float.NEGATIVE_INFINITY;
    }
    if (!finite && logits.length > 0) {
      throw new IllegalStateException("model '" + id + "' returned -Infinity for every class; "
          + NAME + " needs at least one finite logit");
    }
    return logits;
  }

  /** The first output by the signature's order. */
  static Tensor first(Map<String, Tensor> outputs) {
    return outputs.values().iterator().next();
  }

  /** The catalog entry whose settings this classifier applies. */
  public CatalogEntry entry() {
    return task.entry();
  }

  /** The labels, in class order; empty if classes are labelled by index. */
  public List<String> labels() {
    return labels;
  }

  /**
   * Refuses new calls; the model, if this classifier loaded it, is closed when running calls
   * end. Idempotent.
   */
  @Override
  public void close() {
    task.close();
  }
}
