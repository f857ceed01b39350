package ai.nos.hub;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/*
 * From a detector's raw output to boxes: YOLOv8 decoding, then greedy class-wise NMS.
 *
 * YOLOv8's head gives, per anchor, a box (centre x, centre y, width, height in input pixels) and
 * one score per class. As Ultralytics' non_max_suppression with multi_label off, each anchor
 * keeps its best class (here, ties go to the lower class); anchors scoring below the threshold
 * are dropped (Ultralytics drops those at or below it: the catalog documents "below"). NMS
 * visits boxes by score, highest first, ties by anchor index, and drops a box whose IoU with a
 * kept box of the same class is above the threshold, as torchvision.ops.nms does per class.
 */
final class BoxDecoding {

  /** A box in input pixels with its class and score, and where it came from. */
  record Box(int index, int cls, float score, float x1, float y1, float x2, float y2) {}

  private BoxDecoding() {}

  /**
   * Decodes one image of a YOLOv8 output.
   *
   * @param model the model's id, for messages
   * @param out the output, {@code [batch, 4 + classes, anchors]} row-major
   * @param image which image of the batch
   * @throws IllegalStateException if a score is NaN (it would hide the anchor's other classes),
   *     or a box scoring at or above the threshold has a centre that is not finite or a size that
   *     is not finite or negative (NMS and the mapping back would make NaN or inverted boxes)
   */
  static List<Box> yolov8(String model, float[] out, int image, int classes, int anchors,
      double scoreThreshold) {
    int base = image * (4 + classes) * anchors;
    List<Box> boxes = new ArrayList<>();
    for (int a = 0; a < anchors; a++) {
      int best = 0;
      float score = Float.NEGATIVE_INFINITY;
      for (int c = 0; c < classes; c++) {
        float s = out[base + (4 + c) * anchors + a];
        if (Float.isNaN(s)) {
          throw new IllegalStateException("model '" + model + "' returned score NaN for class "
              + c + " at anchor " + a + "; yolov8 needs scores that are numbers");
        }
        if (c == 0 || s > score) {
          best = c;
          score = s;
        }
      }
      if (!(score >= scoreThreshold)) {
        continue;
      }
      float cx = out[base + a];
      float cy = out[base + anchors + a];
      float w = out[base + 2 * anchors + a];
      float h = out[base + 3 * anchors + a];
      if (!Float.isFinite(cx) || !Float.isFinite(cy) || !(w >= 0) || !(h >= 0)
          || w == Float.POSITIVE_INFINITY || h == Float.POSITIVE_INFINITY) {
        throw new IllegalStateException("model '" + model + "' returned box (centre " + cx + ", "
            + cy + ", size " + w + " x " + h + ") at anchor " + a + "; yolov8 needs finite"
            + " centres and sizes of at least 0");
      }
      boxes.add(new Box(a, best, score, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2));
    }
    return boxes;
  }

  /** Greedy class-wise NMS; returns the kept boxes, best first, at most {@code max}. */
  static List<Box> nms(List<Box> boxes, double iouThreshold, int max) {
    Box[] order = boxes.toArray(new Box[0]);
    Arrays.sort(order, (a, b) -> {
      int c = Float.compare(b.score(), a.score());
      return c != 0 ? c : Integer.compare(a.index(), b.index());
    });
    List<Box> kept = new ArrayList<>();
    for (Box box : order) {
      if (kept.size() == max) {
        break;
      }
      boolean keep = true;
      for (Box k : kept) {
        if (k.cls() == box.cls() && iou(k, box) > iouThreshold) {
          keep = false;
          break;
        }
      }
      if (keep) {
        kept.add(box);
      }
    }
    return kept;
  }

  /** Intersection over union; 0 when the union is empty. */
  static double iou(Box a, Box b) {
    double iw = Math.max(0, Math.min(a.x2(), b.x2()) - Math.max(a.x1(), b.x1()));
    double ih = Math.max(0, Math.min(a.y2(), b.y2()) - Math.max(a.y1(), b.y1()));
    double inter = iw * ih;
    double union = area(a) + area(b) - inter;
    return union <= 0 ? 0 : inter / union;
  }

  private static double area(Box b) {
    return (double) (b.x2() - b.x1()) * (b.y2() - b.y1());
  }
}
