package ai.nos.hub;

import java.util.Locale;

/**
 * How the raw outputs of a detector become boxes: the decoder of its output layout, then
 * per-class non-maximum suppression.
 *
 * <p>In JSON: {@code {"decoder": "yolov8", "scoreThreshold": 0.25, "iouThreshold": 0.45,
 * "maxDetections": 300}}; the last three default to these values when absent.
 *
 * @param decoder the layout of the model's output
 * @param scoreThreshold boxes scoring below this are dropped; in [0, 1]
 * @param iouThreshold of two boxes of one class overlapping more than this (intersection over
 *     union), the lower-scoring one is dropped; in [0, 1]
 * @param maxDetections the most boxes kept per image, 1 to 100,000
 */
public record DetectionPostprocessing(BoxDecoder decoder, double scoreThreshold,
    double iouThreshold, int maxDetections) {

  /** The default {@link #scoreThreshold()}. */
  public static final double DEFAULT_SCORE_THRESHOLD = 0.25;
  /** The default {@link #iouThreshold()}. */
  public static final double DEFAULT_IOU_THRESHOLD = 0.45;
  /** The default {@link #maxDetections()}. */
  public static final int DEFAULT_MAX_DETECTIONS = 300;

  /** The layouts of detector outputs that NOS decodes. */
  public enum BoxDecoder {
    /**
     * Ultralytics YOLOv8: one output {@code [batch, 4 + classes, anchors]}, each column a box
     * centre x, centre y, width, height in input pixels followed by one score per class.
     */
    YOLOV8;

    /** The name in JSON, e.g. {@code "yolov8"}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * Checks the components.
   *
   * @throws IllegalArgumentException if a component is null or out of range; the message starts
   *     with the component's name
   */
  public DetectionPostprocessing {
    if (decoder == null) {
      throw new IllegalArgumentException("decoder must not be null");
    }
    checkUnit(scoreThreshold, "scoreThreshold");
    checkUnit(iouThreshold, "iouThreshold");
    if (maxDetections < 1 || maxDetections > 100_000) {
      throw new IllegalArgumentException(
          "maxDetections must be between 1 and 100000 but was " + maxDetections);
    }
  }

  private static void checkUnit(double value, String name) {
    if (!(value >= 0 && value <= 1)) {
      throw new IllegalArgumentException(name + " must be in [0, 1] but was " + value);
    }
  }
}
