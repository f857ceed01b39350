package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading images from every source, and refusing bad ones with a message naming the source. */
final class RgbImageTest {

  static byte[] resource(String name) throws Exception {
    try (InputStream in = RgbImageTest.class.getResourceAsStream("reference/" + name)) {
      return in.readAllBytes();
    }
  }

  @Test
  void read_everySource_samePixels(@TempDir Path dir) throws Exception {
    byte[] png = resource("rgb.png");
    Path file = Files.write(dir.resolve("rgb.png"), png);
    RgbImage fromBytes = RgbImage.read(png);
    assertEquals(37, fromBytes.width());
    assertEquals(23, fromBytes.height());
    assertArrayEquals(fromBytes.toRgbBytes(), RgbImage.read(file).toRgbBytes());
    assertArrayEquals(fromBytes.toRgbBytes(),
        RgbImage.read(new ByteArrayInputStream(png)).toRgbBytes());
    BufferedImage buffered = ImageIO.read(new ByteArrayInputStream(png));
    assertArrayEquals(fromBytes.toRgbBytes(), RgbImage.of(buffered).toRgbBytes());
  }

  @Test
  void read_gray_copiesTheLevelIntoEachChannel() throws Exception {
    RgbImage gray = RgbImage.read(resource("gray.png"));
    byte[] rgb = gray.toRgbBytes();
    // gray.png holds (x * 13 + y * 5) % 256; Pillow's convert("RGB") copies it as is.
    int x = 7;
    int y = 30;
    int o = (y * gray.width() + x) * 3;
    assertEquals((x * 13 + y * 5) % 256, rgb[o] & 0xff);
    assertEquals(rgb[o], rgb[o + 1]);
    assertEquals(rgb[o], rgb[o + 2]);
  }

  @Test
  void read_garbage_namesTheSource(@TempDir Path dir) throws Exception {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RgbImage.read(new byte[] {1, 2, 3}));
    assertTrue(e.getMessage().startsWith("image bytes (3 bytes) is not an image in a supported "
        + "format"), e.getMessage());
    Path text = Files.writeString(dir.resolve("notes.txt"), "not an image");
    e = assertThrows(IllegalArgumentException.class, () -> RgbImage.read(text));
    assertTrue(e.getMessage().startsWith("image file " + text + " is not an image"),
        e.getMessage());
    Path missing = dir.resolve("missing.png");
    e = assertThrows(IllegalArgumentException.class, () -> RgbImage.read(missing));
    assertEquals("image file " + missing + " does not exist", e.getMessage());
  }

  /**
   * A 3 kB JPEG whose header claims 10000x10000 pixels (MAX_PIXELS, so allowed) made ImageIO
   * allocate 300 MB before it found the data missing: an OutOfMemoryError out of read in a
   * 256 MB heap (surefire's). Now refused, by name, before any pixel is decoded.
   */
  @Test
  void read_headerClaimingMoreThanHalfTheHeap_isRefusedBeforeDecoding() throws Exception {
    byte[] jpeg;
    try (InputStream in = RgbImageTest.class.getResourceAsStream(
        "parity/images/noise_small.jpg")) {
      jpeg = in.readAllBytes();
    }
    RgbImageFuzzTest.resize(jpeg, 10_000, 10_000);
    long heap = Runtime.getRuntime().maxMemory();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RgbImage.read(jpeg));
    String m = e.getMessage();
    assertTrue(m.startsWith("image bytes (" + jpeg.length + " bytes)"), m);
    if (heap / 2 < 10_000L * 10_000 * 7) {
      assertTrue(m.contains("is 10000x10000 pixels") && m.contains("half of this JVM's heap"),
          m);
    }
  }

  @Test
  void read_truncated_namesTheSourceAndFormat() throws Exception {
    byte[] png = resource("rgba.png");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RgbImage.read(new ByteArrayInputStream(Arrays.copyOf(png, png.length / 2))));
    assertTrue(e.getMessage().startsWith("image stream cannot be decoded as PNG"),
        e.getMessage());
  }

  /**
   * Java's JPEG reader fills the rows a truncated file lacks with gray and only warns; Pillow
   * refuses such a file ("image file is truncated"), so a model would see pixels nobody sent.
   * A file that lacks only its end marker has all its pixels: it decodes.
   */
  @Test
  void read_truncatedJpeg_refusedNotFilledWithGray() throws Exception {
    byte[] jpg = resource("photo.jpg");
    for (int keep : new int[] {jpg.length * 8 / 10, jpg.length * 9 / 10, jpg.length - 20}) {
      byte[] cut = Arrays.copyOf(jpg, keep);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> RgbImage.read(cut));
      assertTrue(e.getMessage().startsWith("image bytes (" + keep + " bytes) cannot be decoded"
          + " as JPEG: "), e.getMessage());
      assertTrue(e.getMessage().contains("premature end of data segment"), e.getMessage());
    }
    assertArrayEquals(RgbImage.read(jpg).toRgbBytes(),
        RgbImage.read(Arrays.copyOf(jpg, jpg.length - 2)).toRgbBytes());
  }

  @Test
  void read_decompressionBomb_refusedFromTheHeader() throws Exception {
    // A PNG whose header claims 20000 x 20000 pixels and whose data is one tiny image's.
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB), "png", out);
    byte[] png = out.toByteArray();
    ByteBuffer header = ByteBuffer.wrap(png);
    header.putInt(16, 20_000).putInt(20, 20_000);
    CRC32 crc = new CRC32();
    crc.update(png, 12, 17);
    header.putInt(29, (int) crc.getValue());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RgbImage.read(png));
    assertEquals("image bytes (" + png.length + " bytes) is 20000x20000 = 400000000 pixels, "
        + "more than the 100000000 allowed", e.getMessage());
  }

  @Test
  void of_pixels_checksSizes() {
    assertThrows(IllegalArgumentException.class, () -> RgbImage.of(0, 1, new byte[0]));
    assertThrows(IllegalArgumentException.class, () -> RgbImage.of(2, 2, new byte[11]));
    assertThrows(IllegalArgumentException.class, () -> RgbImage.of((BufferedImage) null));
    assertEquals("RgbImage{2x1}", RgbImage.of(2, 1, new byte[6]).toString());
  }
}
