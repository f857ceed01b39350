package ai.nos.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.WritableRaster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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
  void read_gray16_scalesTheLevel_asA16BitRgbImageIsScaled() throws Exception {
    int[] levels = {0, 255, 32767, 32896, 65535};
    BufferedImage gray = new BufferedImage(levels.length, 1, BufferedImage.TYPE_USHORT_GRAY);
    ColorModel rgbModel = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB),
        false, false, Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
    WritableRaster raster = rgbModel.createCompatibleWritableRaster(levels.length, 1);
    for (int x = 0; x < levels.length; x++) {
      gray.getRaster().setSample(x, 0, 0, levels[x]);
      for (int c = 0; c < 3; c++) {
        raster.setSample(x, 0, c, levels[x]);
      }
    }
    byte[] rgb16 = RgbImage.of(new BufferedImage(rgbModel, raster, false, null)).toRgbBytes();
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    ImageIO.write(gray, "png", png);
    // Was the linear-gray-to-sRGB conversion of getRGB: 32896 (128 in 8 bits) became 188.
    byte[] expected = {0, 0, 0, 1, 1, 1, 127, 127, 127, (byte) 128, (byte) 128, (byte) 128,
        (byte) 255, (byte) 255, (byte) 255};
    assertArrayEquals(expected, rgb16);
    assertArrayEquals(expected, RgbImage.of(gray).toRgbBytes());
    assertArrayEquals(expected, RgbImage.read(png.toByteArray()).toRgbBytes());
  }

  /**
   * A JPEG with an embedded ICC profile other than sRGB (here linear RGB; phones write Display
   * P3) decodes to its samples as they are, as Pillow decodes it: ImageIO's reader gives the
   * profile's colour space, and getRGB converted (128, 64, 200) to (188, 137, 229).
   */
  @Test
  void read_jpegWithAnIccProfile_samplesAsTheyAre() throws Exception {
    BufferedImage plain = new BufferedImage(64, 48, BufferedImage.TYPE_INT_RGB);
    java.util.Random random = new java.util.Random(7);
    for (int y = 0; y < 48; y++) {
      for (int x = 0; x < 64; x++) {
        plain.setRGB(x, y, x < 8 && y < 8 ? (128 << 16) | (64 << 8) | 200 : random.nextInt());
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(plain, "jpeg", out);
    byte[] jpeg = out.toByteArray();
    byte[] icc = java.awt.color.ICC_Profile.getInstance(ColorSpace.CS_LINEAR_RGB).getData();
    ByteArrayOutputStream with = new ByteArrayOutputStream();
    int at = 4 + (((jpeg[4] & 0xff) << 8) | (jpeg[5] & 0xff)); // after SOI and APP0
    with.write(jpeg, 0, at);
    int length = 2 + 12 + 2 + icc.length;
    with.write(new byte[] {(byte) 0xff, (byte) 0xe2, (byte) (length >> 8), (byte) length});
    with.write("ICC_PROFILE\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    with.write(new byte[] {1, 1});
    with.write(icc);
    with.write(jpeg, at, jpeg.length - at);
    byte[] expected = RgbImage.read(jpeg).toRgbBytes();
    assertEquals(128, expected[0] & 0xff, 2);
    assertArrayEquals(expected, RgbImage.read(with.toByteArray()).toRgbBytes());
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

  /**
   * The heap guard's estimate covers what a decode really holds at once: ImageIO's image (its
   * data buffer, as allocated) and everything the conversion to RGB allocates (counted in full,
   * its per-row garbage too; 1% of slack for it). A heap whose half is under that refuses the
   * image; one whose half is twice that admits it. Before, a gray image's conversion took an int
   * a pixel for the whole image, 8 bytes a pixel held against an estimate of 7: admitted under
   * a heap its decoding would overrun.
   */
  @ParameterizedTest
  @ValueSource(strings = {"gray8", "gray16", "grayAlpha16", "rgb8", "rgba8", "rgb16", "rgba16",
      "palette", "gray8.jpg", "rgb8.jpg"})
  void read_heapGuard_estimateCoversImageIosImageAndTheConversion(String kind) throws Exception {
    byte[] bytes = encode(kind, 1000, 1000);
    BufferedImage image = ImageIO.read(new ByteArrayInputStream(bytes));
    DataBuffer data = image.getRaster().getDataBuffer();
    long imageBytes = (long) data.getSize() * data.getNumBanks()
        * DataBuffer.getDataTypeSize(data.getDataType()) / 8;
    RgbImage.of(image);
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long before = threads.getCurrentThreadAllocatedBytes();
    RgbImage.of(image);
    long held = imageBytes + threads.getCurrentThreadAllocatedBytes() - before;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RgbImage.read(bytes, 2 * (held - held / 100)), kind + ": holds " + held + " bytes");
    assertTrue(e.getMessage().contains("is 1000x1000 pixels"), e.getMessage());
    assertEquals(1000, RgbImage.read(bytes, 4 * held).width(), kind);
  }

  /** An image of {@code kind} (a PNG unless the kind ends in .jpg) holding a gradient. */
  private static byte[] encode(String kind, int w, int h) throws Exception {
    String format = kind.endsWith(".jpg") ? "jpg" : "png";
    BufferedImage image;
    switch (kind.replace(".jpg", "")) {
      case "gray8" -> image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
      case "gray16" -> image = new BufferedImage(w, h, BufferedImage.TYPE_USHORT_GRAY);
      case "rgb8" -> image = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
      case "rgba8" -> image = new BufferedImage(w, h, BufferedImage.TYPE_4BYTE_ABGR);
      case "palette" -> image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_INDEXED);
      default -> {
        // 16-bit channels: what ImageIO reads such a PNG into, a TYPE_CUSTOM image of shorts.
        boolean alpha = kind.contains("lpha") || kind.equals("rgba16");
        ColorSpace space = ColorSpace.getInstance(kind.startsWith("gray")
            ? ColorSpace.CS_GRAY : ColorSpace.CS_sRGB);
        ColorModel model = new ComponentColorModel(space, alpha, false,
            alpha ? Transparency.TRANSLUCENT : Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
        image = new BufferedImage(model, model.createCompatibleWritableRaster(w, h), false,
            null);
      }
    }
    WritableRaster raster = image.getRaster();
    int[] pixel = new int[raster.getNumBands()];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        for (int b = 0; b < pixel.length; b++) {
          pixel[b] = (x * 7 + y * 3 + b * 50) & 0xff;
        }
        raster.setPixel(x, y, pixel);
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertTrue(ImageIO.write(image, format, out), kind);
    return out.toByteArray();
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
