package ai.nos.hub;

/**
 * One object an {@link ObjectDetector} found: its box in the pixels of the original image
 * (origin at the top-left corner, x to the right, y down; clipped to the image), its class and
 * its score.
 *
 * @param label the class's label, or its index as text when the model has no labels
 * @param index the class's index in the model's output
 * @param score the class score, in [0, 1] for YOLOv8
 * @param x1 the left edge
 * @param y1 the top edge
 * @param x2 the right edge, at least {@code x1}
 * @param y2 the bottom edge, at least {@code y1}
 */
public record Detection(String label, int index, float score, float x1, float y1, float x2,
    float y2) {

  /** The width of the box, {@code x2 - x1}. */
  public float width() {
    return x2 - x1;
  }

  /** The height of the box, {@code y2 - y1}. */
  public float height() {
    return y2 - y1;
  }
}
