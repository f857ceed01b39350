package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.testing.ByteMutator;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * Feeds RgbImage.read(byte[]) seeded byte mutations of small images in each format ImageIO reads
 * (PNG: RGB, RGBA, gray, palette; JPEG: colour and gray; BMP, GIF), headers favoured (widths,
 * heights, chunk lengths set to 0, -1 and the maxima; and, for a quarter of them, the width and
 * height in the header set to sizes from 1000 to 20000, where decoding needs more than a test JVM's
 * heap, which was an OutOfMemoryError): each must decode to an image of at most
 * MAX_PIXELS whose pixels match its size, or fail with an IllegalArgumentException naming the
 * input; never another exception, an OutOfMemoryError or a hang.
 */
final class RgbImageFuzzTest {
  private static final int MUTATIONS = ByteMutator.rounds(2_000);
  private static final long SEED = ByteMutator.seed(0x1A6EL);
  private static final ByteMutator MUTATOR = new ByteMutator(64);

  @Test
  void read_byteMutations_imageOrIllegalArgumentNamingTheInput() throws IOException {
    List<byte[]> seeds = new ArrayList<>();
    for (String name : List.of("tiny.png", "sliver.png", "gray_odd.png", "palette.png",
        "tiny_gray.jpg", "noise_small.jpg")) {
      seeds.add(resource("parity/images/" + name));
    }
    BufferedImage rgb = ImageIO.read(new java.io.ByteArrayInputStream(
        resource("parity/images/tiny.png")));
    BufferedImage bgr = new BufferedImage(rgb.getWidth(), rgb.getHeight(),
        BufferedImage.TYPE_3BYTE_BGR);
    bgr.getGraphics().drawImage(rgb, 0, 0, null);
    for (String format : List.of("bmp", "gif")) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      assertTrue(ImageIO.write(bgr, format, out), format);
      seeds.add(out.toByteArray());
    }
    Random random = new Random(SEED);
    Map<String, Integer> outcomes = new TreeMap<>();
    assertTimeoutPreemptively(Duration.ofSeconds(60L * MUTATIONS / 2_000), () -> {
      for (int i = 0; i < MUTATIONS; i++) {
        byte[] bytes = MUTATOR.mutate(random, seeds.get(random.nextInt(seeds.size())));
        if (random.nextInt(4) == 0) {
          resize(bytes, side(random), side(random));
        }
        outcomes.merge(check(bytes), 1, Integer::sum);
      }
    });
    System.out.println("RgbImageFuzzTest: " + MUTATIONS + " mutations: " + outcomes);
    assertTrue(outcomes.getOrDefault("decoded", 0) > 100
        && outcomes.getOrDefault("refused", 0) > 300, outcomes.toString());
  }

  private static String check(byte[] bytes) {
    RgbImage image;
    try {
      image = RgbImage.read(bytes);
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage() != null
          && e.getMessage().contains("image bytes (" + bytes.length + " bytes)"),
          () -> "the message should name the input: " + e.getMessage());
      return "refused";
    } catch (Throwable t) {
      return fail("RgbImage.read threw " + t + " for " + ByteMutator.hex(bytes, 300), t);
    }
    assertTrue(image.width() >= 1 && image.height() >= 1
        && (long) image.width() * image.height() <= RgbImage.MAX_PIXELS, image::toString);
    assertEquals(3L * image.width() * image.height(), image.toRgbBytes().length);
    return "decoded";
  }

  /** A side from 1000 to 20000, log-uniform: images from 1 to 400 megapixels. */
  private static int side(Random random) {
    return (int) Math.round(1_000 * Math.exp(random.nextDouble() * Math.log(20)));
  }

  /** Writes {@code w x h} into the header of a PNG, JPEG, BMP or GIF in place, if found. */
  static void resize(byte[] b, int w, int h) {
    if (b.length > 24 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') { // IHDR, big-endian
      java.nio.ByteBuffer.wrap(b).putInt(16, w).putInt(20, h);
    } else if (b.length > 26 && b[0] == 'B' && b[1] == 'M') { // BITMAPINFOHEADER
      java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(18, w)
          .putInt(22, h);
    } else if (b.length > 10 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F') { // screen size
      java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN)
          .putShort(6, (short) w).putShort(8, (short) h);
    } else {
      for (int i = 0; i + 9 < b.length; i++) { // the first SOF0 or SOF2, big-endian
        int marker = b[i + 1] & 0xFF;
        if ((b[i] & 0xFF) == 0xFF && (marker == 0xC0 || marker == 0xC2)) {
          java.nio.ByteBuffer.wrap(b).putShort(i + 5, (short) h).putShort(i + 7, (short) w);
          return;
        }
      }
    }
  }

  private static byte[] resource(String path) {
    try (InputStream in = RgbImageFuzzTest.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new AssertionError("missing test resource ai/nos/hub/" + path);
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
