package ai.nos.hub;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.stream.ImageInputStream;

/**
 * An image decoded to 8-bit RGB, the input of the image task facades ({@link ImageClassifier},
 * {@link ImageEmbedder}, {@link ObjectDetector}).
 *
 * <p>Read one from a file, bytes or a stream ({@link #read(Path)}, {@link #read(byte[])},
 * {@link #read(InputStream)}: PNG and JPEG at least, whatever {@link ImageIO} has a reader for),
 * or take a {@link BufferedImage} ({@link #of(BufferedImage)}). Like Pillow's
 * {@code convert("RGB")}, an alpha channel is dropped (not blended) and a grayscale image has its
 * gray level in all three channels (a 16-bit level scaled to 8 bits, as a 16-bit RGB image's).
 * An embedded colour profile (a JPEG's ICC profile, such as Display P3) is not applied, as
 * Pillow applies none: the samples are taken as they are.
 *
 * <p>A file whose pixel data is cut short is refused, as Pillow refuses it, rather than decoded
 * with the missing part filled in (ImageIO's JPEG reader fills it with gray and only warns).
 *
 * <p>Decompression bombs: the image's size is read from its header before any pixel is decoded,
 * and an image of more than {@value #MAX_PIXELS} pixels is refused, as is one whose decoding
 * (ImageIO's image and the RGB copy) would take more than half of the JVM's maximum heap: a
 * 3 kB JPEG whose header claims 10000x10000 pixels asks ImageIO for 300 MB before it finds the
 * data missing, an OutOfMemoryError where the heap is smaller.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class RgbImage {

  /** The most pixels (width times height) an image may have: 100 megapixels. */
  public static final long MAX_PIXELS = ai.nos.ImageInput.MAX_PIXELS;

  private final int width;
  private final int height;
  /** Row-major, 3 bytes per pixel: red, green, blue. */
  private final byte[] rgb;

  private RgbImage(int width, int height, byte[] rgb) {
    this.width = width;
    this.height = height;
    this.rgb = rgb;
  }

  /**
   * Decodes an image file.
   *
   * @throws IllegalArgumentException if {@code file} is null or does not exist, is not an image
   *     of a supported format, is corrupt, or has more than {@value #MAX_PIXELS} pixels or more
   *     than half of the JVM's heap would hold decoded; the message names the file
   * @throws UncheckedIOException if the file cannot be read
   */
  public static RgbImage read(Path file) {
    if (file == null) {
      throw new IllegalArgumentException("image file must not be null");
    }
    try (InputStream in = Files.newInputStream(file)) {
      return decode(in, "image file " + file, Runtime.getRuntime().maxMemory());
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("image file " + file + " does not exist", e);
    } catch (IOException e) {
      throw new UncheckedIOException("image file " + file + " cannot be read: " + e, e);
    }
  }

  /**
   * Decodes an image held in memory.
   *
   * @throws IllegalArgumentException if {@code bytes} is null, not an image of a supported
   *     format, corrupt, or more than {@value #MAX_PIXELS} pixels or than half of the JVM's heap
   *     would hold decoded
   */
  public static RgbImage read(byte[] bytes) {
    return read(bytes, Runtime.getRuntime().maxMemory());
  }

  /** {@link #read(byte[])} as if the JVM's maximum heap were {@code heap} bytes (for tests). */
  static RgbImage read(byte[] bytes, long heap) {
    if (bytes == null) {
      throw new IllegalArgumentException("image bytes must not be null");
    }
    try {
      return decode(new ByteArrayInputStream(bytes), "image bytes (" + bytes.length + " bytes)",
          heap);
    } catch (IOException e) {
      throw new IllegalArgumentException("image bytes (" + bytes.length + " bytes) cannot be "
          + "decoded: " + e.getMessage(), e);
    }
  }

  /**
   * Decodes an image from a stream; the stream is not closed. Where it is left is ImageIO's
   * reader's business: the PNG reader stops before the image's last chunk, other readers may
   * read past the image's end, so a stream of several images needs one {@link #read(byte[])}
   * per image.
   *
   * @throws IllegalArgumentException if {@code in} is null, or its data is not an image of a
   *     supported format, is corrupt, or has more than {@value #MAX_PIXELS} pixels or more than
   *     half of the JVM's heap would hold decoded
   * @throws UncheckedIOException if reading the stream fails
   */
  public static RgbImage read(InputStream in) {
    if (in == null) {
      throw new IllegalArgumentException("image stream must not be null");
    }
    try {
      return decode(in, "image stream", Runtime.getRuntime().maxMemory());
    } catch (IOException e) {
      throw new UncheckedIOException("image stream cannot be read: " + e, e);
    }
  }

  /**
   * Copies the pixels of a {@link BufferedImage}.
   *
   * @throws IllegalArgumentException if {@code image} is null or has more than
   *     {@value #MAX_PIXELS} pixels
   */
  public static RgbImage of(BufferedImage image) {
    if (image == null) {
      throw new IllegalArgumentException("image must not be null");
    }
    checkSize(image.getWidth(), image.getHeight(), "BufferedImage");
    return fromBuffered(image);
  }

  /**
   * An image of the given pixels.
   *
   * @param rgb row-major, 3 bytes per pixel (red, green, blue); copied
   * @throws IllegalArgumentException if a size is below 1, there are more than
   *     {@value #MAX_PIXELS} pixels, or {@code rgb} does not hold {@code width * height * 3} bytes
   */
  public static RgbImage of(int width, int height, byte[] rgb) {
    if (width < 1 || height < 1) {
      throw new IllegalArgumentException(
          "image size must be at least 1x1 but was " + width + "x" + height);
    }
    checkSize(width, height, "pixels");
    if (rgb == null || rgb.length != width * height * 3) {
      throw new IllegalArgumentException("rgb must hold width * height * 3 = "
          + (width * height * 3) + " bytes but held " + (rgb == null ? "null" : rgb.length));
    }
    return new RgbImage(width, height, rgb.clone());
  }

  /** The width in pixels. */
  public int width() {
    return width;
  }

  /** The height in pixels. */
  public int height() {
    return height;
  }

  /** A copy of the pixels: row-major, 3 bytes per pixel (red, green, blue). */
  public byte[] toRgbBytes() {
    return rgb.clone();
  }

  /** The pixels without a copy, for this package's pre-processing, which never changes them. */
  byte[] pixels() {
    return rgb;
  }

  /** The size. */
  @Override
  public String toString() {
    return "RgbImage{" + width + "x" + height + "}";
  }

  private static RgbImage decode(InputStream in, String source, long heap) throws IOException {
    ImageInputStream stream = ImageIO.createImageInputStream(in);
    if (stream == null) {
      throw new IllegalArgumentException(source + " cannot be read as an image");
    }
    try (stream) {
      Iterator<ImageReader> readers = ImageIO.getImageReaders(stream);
      if (!readers.hasNext()) {
        throw new IllegalArgumentException(source + " is not an image in a supported format ("
            + String.join(", ", ImageIO.getReaderFormatNames()) + ")");
      }
      ImageReader reader = readers.next();
      String format = reader.getFormatName().toUpperCase(Locale.ROOT);
      try {
        reader.setInput(stream, true, true);
        long width;
        long height;
        try {
          width = reader.getWidth(0);
          height = reader.getHeight(0);
        } catch (IOException | RuntimeException e) {
          throw undecodable(source, format, e);
        }
        checkSize(width, height, source);
        checkHeap(width, height, reader, source, heap);
        List<String> warnings = new ArrayList<>();
        reader.addIIOReadWarningListener((r, warning) -> warnings.add(warning));
        BufferedImage image;
        try {
          image = reader.read(0, asStored(reader));
        } catch (IOException | RuntimeException e) {
          throw undecodable(source, format, e);
        }
        // The JPEG reader fills what a truncated file lacks with gray and only warns ("Corrupt
        // JPEG data: premature end of data segment"); Pillow refuses such a file. A file that
        // lacks only its end marker has all its pixels and decodes, in both.
        if (warnings.stream().anyMatch(w -> w.toLowerCase(Locale.ROOT).contains("premature end"))) {
          throw new IllegalArgumentException(source + " cannot be decoded as " + format + ": its"
              + " data ends before its pixels do (" + String.join("; ", warnings) + ")");
        }
        return fromBuffered(image);
      } finally {
        reader.dispose();
      }
    }
  }

  /**
   * The read parameters that keep an embedded colour profile's samples as they are: ImageIO's
   * JPEG reader converts an image with an ICC profile other than sRGB to sRGB unless asked for
   * the profile's own type, which it offers among the others; Pillow applies no profile.
   */
  private static ImageReadParam asStored(ImageReader reader) {
    ImageReadParam param = reader.getDefaultReadParam();
    try {
      Iterator<ImageTypeSpecifier> types = reader.getImageTypes(0);
      while (types != null && types.hasNext()) {
        ImageTypeSpecifier type = types.next();
        ColorSpace space = type.getColorModel().getColorSpace();
        if (type.getColorModel() instanceof ComponentColorModel
            && space.getType() == ColorSpace.TYPE_RGB && !space.isCS_sRGB()) {
          // As a destination image: the reader refuses its own type as a destination type,
          // its colour space being a new instance each time it lists the types.
          param.setDestination(type.createBufferedImage(reader.getWidth(0),
              reader.getHeight(0)));
          break;
        }
      }
    } catch (IOException | RuntimeException e) {
      // No types to tell: the reader's own choice stands, as read(0) makes it.
    }
    return param;
  }

  private static IllegalArgumentException undecodable(
      String source, String format, Exception e) {
    return new IllegalArgumentException(source + " cannot be decoded as " + format + ": " + e, e);
  }

  private static void checkSize(long width, long height, String source) {
    if (width * height > MAX_PIXELS) {
      throw new IllegalArgumentException(source + " is " + width + "x" + height + " = "
          + width * height + " pixels, more than the " + MAX_PIXELS + " allowed");
    }
  }

  /**
   * Refuses an image whose decoding would take more than half of the heap: ImageIO allocates
   * the whole image before it reads the pixel data, so a damaged or hostile header is an
   * OutOfMemoryError (JPEG's reader lets it out; PNG's wraps it) that other threads feel too.
   *
   * <p>What a decode holds at once: ImageIO's image, in the type the reader gives first (the one
   * {@code read} allocates; its pixel size counts 16-bit channels and alpha: a 16-bit RGBA PNG is
   * a TYPE_CUSTOM image of four shorts, 8 bytes a pixel, a 16-bit gray one 2), the RGB copy
   * (3 bytes a pixel) and the conversion's one row of ints. The readers' and the conversion's
   * other buffers are a row or a strip at a time, garbage the collector takes back (measured with
   * JDK 17: PNG, JPEG, TIFF, 8- and 16-bit, gray to RGBA). Where the type cannot be told, 4 bytes
   * a pixel: the most ImageIO's readers give for 8-bit images; {@code read} asks for the same
   * types, so a reader that cannot tell them fails there before allocating.
   */
  private static void checkHeap(long width, long height, ImageReader reader, String source,
      long heap) {
    int bytesPerPixel = 4;
    try {
      Iterator<ImageTypeSpecifier> types = reader.getImageTypes(0);
      if (types != null && types.hasNext()) {
        bytesPerPixel = Math.max(bytesPerPixel,
            (types.next().getColorModel().getPixelSize() + 7) / 8);
      }
    } catch (IOException | RuntimeException e) {
      // The header told the size but not the type: the estimate for 8-bit images stands.
    }
    long bytes = width * height * (bytesPerPixel + 3) + width * Integer.BYTES;
    if (bytes > heap / 2) {
      throw new IllegalArgumentException(source + " is " + width + "x" + height + " pixels,"
          + " which take about " + bytes + " bytes to decode, more than half of this JVM's heap ("
          + heap + " bytes, -Xmx): a damaged header, or raise -Xmx");
    }
  }

  private static RgbImage fromBuffered(BufferedImage image) {
    int w = image.getWidth();
    int h = image.getHeight();
    byte[] rgb = new byte[w * h * 3];
    ColorModel model = image.getColorModel();
    // One row of ints at a time, in both paths: the whole image's would be 4 bytes a pixel more
    // than checkHeap counts (it was, for gray images).
    int[] row = new int[w];
    // getRGB would run a gray image through the linear-gray-to-sRGB conversion and change its
    // levels (a 16-bit mid-gray became 188); Pillow copies the gray level into the three
    // channels, so read the samples. A 16-bit level is scaled to 8 bits as getRGB scales the
    // channels of a 16-bit RGB image: v * 255 / 65535, rounded.
    int bits = model.getComponentSize(0);
    ColorSpace space = model.getColorSpace();
    // Likewise an RGB image whose colour space is not sRGB (a JPEG's embedded ICC profile:
    // Display P3, Adobe RGB): getRGB converted it to sRGB, and Pillow applies no profile.
    boolean gray = space.getType() == ColorSpace.TYPE_GRAY;
    boolean otherRgb = space.getType() == ColorSpace.TYPE_RGB && !space.isCS_sRGB();
    if (model instanceof ComponentColorModel && (gray || otherRgb)
        && (bits == 8 || bits == 16) && sameSizes(model)) {
      Raster raster = image.getRaster();
      for (int y = 0; y < h; y++) {
        for (int c = 0; c < 3; c++) {
          if (c == 0 || !gray) {
            raster.getSamples(0, y, w, 1, c, row);
          }
          for (int x = 0, o = y * w * 3 + c; x < w; x++, o += 3) {
            rgb[o] = (byte) (bits == 8 ? row[x] : (row[x] * 255 + 32767) / 65535);
          }
        }
      }
      return new RgbImage(w, h, rgb);
    }
    for (int y = 0; y < h; y++) {
      image.getRGB(0, y, w, 1, row, 0, w);
      for (int x = 0, o = y * w * 3; x < w; x++, o += 3) {
        int p = row[x];
        rgb[o] = (byte) (p >> 16);
        rgb[o + 1] = (byte) (p >> 8);
        rgb[o + 2] = (byte) p;
      }
    }
    return new RgbImage(w, h, rgb);
  }

  /** Whether every colour component has the size of the first. */
  private static boolean sameSizes(ColorModel model) {
    for (int c = 1; c < model.getNumColorComponents(); c++) {
      if (model.getComponentSize(c) != model.getComponentSize(0)) {
        return false;
      }
    }
    return true;
  }
}
