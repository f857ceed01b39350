package ai.nos.hub;

import ai.nos.Artifact;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.Nos;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Object detection over a loaded model: an image in, boxes with labels and scores out, in the
 * pixels of the original image.
 *
 * <pre>{@code
 * try (ObjectDetector detector =
 *     ObjectDetector.load(Hub.shared(), "ultralytics/yolov8n", Downloader.builder().build())) {
 *   for (Detection d : detector.detect(RgbImage.read(Path.of("street.jpg")))) { ... }
 * }
 * }</pre>
 *
 * <p>The image is prepared as the entry's {@link ImagePreprocessing} says (for YOLO, a
 * letterbox), on the CPU in Java. The model's first output is decoded as the entry's
 * {@link DetectionPostprocessing} says: for {@link DetectionPostprocessing.BoxDecoder#YOLOV8}, a
 * {@code [1, 4 + classes, anchors]} tensor whose columns are a box (centre x, centre y, width,
 * height in input pixels) and one score per class; each anchor keeps its best class (ties: the
 * lower class), anchors scoring below the score threshold are dropped, then per-class greedy
 * non-maximum suppression drops a box overlapping a better one of its class by more than the IoU
 * threshold, and at most the maximum number of detections are kept, best first. Boxes are mapped
 * back through the letterbox (or resize and crop) to the original image and clipped to it.
 * Pre-processing on the model's device is left for a later change.
 *
 * <p><b>Thread-safety</b>: safe to call from any number of threads at once. {@link #close()} may
 * be called at any time: later calls fail, running ones finish.
 */
public final class ObjectDetector implements AutoCloseable {

  private static final String NAME = "ObjectDetector";

  private final TaskModel task;
  private final ImagePreprocessing preprocessing;
  private final DetectionPostprocessing postprocessing;
  private final List<String> labels;
  private final String input;

  private ObjectDetector(TaskModel task, List<String> labels) {
    this.task = task;
    this.preprocessing = task.entry().image().orElseThrow();
    this.postprocessing = task.entry().detection().orElseThrow();
    this.labels = labels;
    this.input = TaskModel.imageInput(NAME, task.model()).name();
    TensorSpec output = task.model().spec().signature().outputs().get(0);
    if (output.rank() != 3) {
      throw new IllegalArgumentException(NAME + " decodes " + postprocessing.decoder().label()
          + " output [batch, 4 + classes, anchors] but '" + task.model().spec().id()
          + "' returns " + output);
    }
    Labels.checkCount(NAME, task.entry().id(), labels,
        output.dim(1) == TensorSpec.DYNAMIC ? -1 : output.dim(1) - 4);
  }

  /**
   * Fetches a catalog model of task {@link Task#OBJECT_DETECTION} and its labels, and loads it
   * with {@link Nos#load}; closing the detector closes the model.
   *
   * @throws IllegalArgumentException if an argument is null, the id is unknown, or its entry has
   *     another task (checked before anything is downloaded)
   * @throws DownloadException if a file cannot be fetched or verified
   * @throws ai.nos.ModelLoadException if the model cannot be loaded
   */
  public static ObjectDetector load(Hub hub, String id, Downloader downloader) {
    return TaskModel.load(NAME, Task.OBJECT_DETECTION, hub, id, downloader, Nos::load,
        ObjectDetector::owning);
  }

  /**
   * As {@link #load(Hub, String, Downloader)}, loading the model through {@code manager}.
   *
   * @throws IllegalArgumentException also if {@code manager} is null
   */
  public static ObjectDetector load(Hub hub, String id, Downloader downloader,
      ModelManager manager) {
    if (manager == null) {
      throw new IllegalArgumentException("manager must not be null");
    }
    return TaskModel.load(NAME, Task.OBJECT_DETECTION, hub, id, downloader, manager::load,
        ObjectDetector::owning);
  }

  static ObjectDetector owning(Model model, CatalogEntry entry, Map<String, Artifact> files) {
    return new ObjectDetector(new TaskModel(NAME, model, entry, List.of(model)),
        Labels.of(entry, files));
  }

  /**
   * A detector over a model the caller loaded and keeps owning (closing the detector leaves it
   * open), with the entry's inline labels; without labels, classes are labelled by index.
   *
   * @throws IllegalArgumentException if an argument is null, the entry's task is not
   *     {@link Task#OBJECT_DETECTION}, the model does not take one float32 input or return a
   *     rank-3 output, or its fixed class count differs from the number of labels
   */
  public static ObjectDetector of(Model model, CatalogEntry entry) {
    TaskModel.check(NAME, model, entry, Task.OBJECT_DETECTION);
    return new ObjectDetector(new TaskModel(NAME, model, entry, List.of()), entry.labels());
  }

  /**
   * As {@link #of(Model, CatalogEntry)} with the given labels, in class order.
   *
   * @throws IllegalArgumentException also if {@code labels} or a label is null
   */
  public static ObjectDetector of(Model model, CatalogEntry entry, List<String> labels) {
    TaskModel.check(NAME, model, entry, Task.OBJECT_DETECTION);
    return new ObjectDetector(new TaskModel(NAME, model, entry, List.of()),
        Labels.check(labels));
  }

  /**
   * Returns the objects found in an image, best score first.
   *
   * @throws IllegalArgumentException if {@code image} is null
   * @throws IllegalStateException if the detector is closed, or the model's output is not
   *     {@code [1, 4 + classes, anchors]} with as many classes as labels, has a NaN score, or a
   *     box above the score threshold whose centre is not finite or whose size is not finite or
   *     negative (the message names the anchor)
   * @throws ai.nos.InferenceException if the model fails
   */
  public List<Detection> detect(RgbImage image) {
    if (image == null) {
      throw new IllegalArgumentException("image must not be null");
    }
    return task.call(() -> {
      ImageTensors.Prepared prepared = ImageTensors.input(task.model(), input, image,
          preprocessing);
      Tensor out = ImageClassifier.first(task.model().infer(Map.of(input, prepared.tensor())));
      if (out.rank() != 3 || out.dim(0) != 1 || out.dim(1) < 5) {
        throw new IllegalStateException("model '" + task.model().spec().id() + "' returned "
            + out + " but " + postprocessing.decoder().label()
            + " needs [1, 4 + classes, anchors]");
      }
      int classes = (int) out.dim(1) - 4;
      List<BoxDecoding.Box> boxes = BoxDecoding.nms(
          BoxDecoding.yolov8(task.model().spec().id(), out.toFloatArray(), 0, classes,
              (int) out.dim(2),
              postprocessing.scoreThreshold()),
          postprocessing.iouThreshold(), postprocessing.maxDetections());
      List<Detection> detections = new ArrayList<>(boxes.size());
      for (BoxDecoding.Box b : boxes) {
        detections.add(new Detection(Labels.label(labels, b.cls(), task.entry().id(), classes),
            b.cls(), b.score(),
            clip(prepared.x(b.x1()), image.width()), clip(prepared.y(b.y1()), image.height()),
            clip(prepared.x(b.x2()), image.width()), clip(prepared.y(b.y2()), image.height())));
      }
      return List.copyOf(detections);
    });
  }

  private static float clip(double v, int max) {
    return (float) Math.min(Math.max(v, 0), max);
  }

  /** The catalog entry whose settings this detector applies. */
  public CatalogEntry entry() {
    return task.entry();
  }

  /** The labels, in class order; empty if classes are labelled by index. */
  public List<String> labels() {
    return labels;
  }

  /**
   * Refuses new calls; the model, if this detector loaded it, is closed when running calls end.
   * Idempotent.
   */
  @Override
  public void close() {
    task.close();
  }
}
