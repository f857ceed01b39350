package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A region of a resized image, computed alone ({@link PilResize}'s region form, what a centre
 * crop uses), is byte for byte the crop of the whole resized image: for random images, sizes
 * (down, up, one side only, none), regions, every interpolation and both resamplers. Pillow
 * agreement of the whole resize is {@link ReferenceTest}'s, torchvision's
 * {@link PreprocessingParityTest}'s.
 */
final class PilResizeRegionTest {

  /**
   * Pillow's nearest from 4 to 7 pixels takes 0 0 1 1 2 3 3 (its centres are sums of the scale
   * in doubles, and the fourth lands just under a boundary); {@code (x + 0.5) * scale} took
   * 0 0 1 2 2 3 3.
   */
  @Test
  void nearest_withPillow_takesPillowsPixel_whereACentreLandsOnABoundary() {
    byte[] rgb = new byte[4 * 4 * 3];
    for (int y = 0; y < 4; y++) {
      for (int x = 0; x < 4; x++) {
        rgb[(y * 4 + x) * 3] = (byte) x; // red: the column
        rgb[(y * 4 + x) * 3 + 1] = (byte) y; // green: the row
      }
    }
    byte[] out = PilResize.resize(rgb, 4, 4, 7, 7, ImagePreprocessing.Interpolation.NEAREST,
        ImagePreprocessing.Resampler.PILLOW);
    byte[] columns = new byte[7];
    byte[] rows = new byte[7];
    for (int i = 0; i < 7; i++) {
      columns[i] = out[i * 3];
      rows[i] = out[(i * 7) * 3 + 1];
    }
    assertArrayEquals(new byte[] {0, 0, 1, 1, 2, 3, 3}, columns);
    assertArrayEquals(new byte[] {0, 0, 1, 1, 2, 3, 3}, rows);
  }

  @Test
  void region_isTheCropOfTheWholeResize() {
    Random random = new Random(11);
    for (int trial = 0; trial < 300; trial++) {
      int w = 1 + random.nextInt(90);
      int h = 1 + random.nextInt(90);
      int ow = random.nextInt(4) == 0 ? w : 1 + random.nextInt(90);
      int oh = random.nextInt(4) == 0 ? h : 1 + random.nextInt(90);
      ImagePreprocessing.Interpolation interpolation = ImagePreprocessing.Interpolation.values()[
          random.nextInt(ImagePreprocessing.Interpolation.values().length)];
      ImagePreprocessing.Resampler resampler = ImagePreprocessing.Resampler.values()[
          random.nextInt(ImagePreprocessing.Resampler.values().length)];
      byte[] rgb = new byte[w * h * 3];
      random.nextBytes(rgb);
      int rw = 1 + random.nextInt(ow);
      int rh = 1 + random.nextInt(oh);
      int left = random.nextInt(ow - rw + 1);
      int top = random.nextInt(oh - rh + 1);
      byte[] whole = PilResize.resize(rgb, w, h, ow, oh, interpolation, resampler);
      byte[] want = new byte[rw * rh * 3];
      for (int y = 0; y < rh; y++) {
        System.arraycopy(whole, ((top + y) * ow + left) * 3, want, y * rw * 3, rw * 3);
      }
      String what = w + "x" + h + " -> " + ow + "x" + oh + " " + interpolation + " "
          + resampler + ", region "
          + rw + "x" + rh + " at (" + left + ", " + top + ")";
      assertArrayEquals(want, PilResize.resize(rgb, w, h, ow, oh, interpolation, resampler, left,
          top, rw, rh), what);
    }
  }

  @Test
  void regionOutsideTheResizedImage_isRefused() {
    byte[] rgb = new byte[4 * 4 * 3];
    assertThrows(IllegalArgumentException.class, () -> PilResize.resize(rgb, 4, 4, 8, 8,
        ImagePreprocessing.Interpolation.BILINEAR,
        ImagePreprocessing.Resampler.PILLOW, 4, 0, 5, 1));
    assertThrows(IllegalArgumentException.class, () -> PilResize.resize(rgb, 4, 4, 8, 8,
        ImagePreprocessing.Interpolation.BILINEAR,
        ImagePreprocessing.Resampler.PILLOW, -1, 0, 2, 2));
    assertThrows(IllegalArgumentException.class, () -> PilResize.resize(rgb, 4, 4, 8, 8,
        ImagePreprocessing.Interpolation.BILINEAR,
        ImagePreprocessing.Resampler.PILLOW, 0, 0, 0, 2));
  }
}
