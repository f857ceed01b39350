package ai.nos;

import java.util.Arrays;
import java.util.Objects;

/**
 * Pre-processing of an image input on the model's device: the caller sends decoded pixels, and
 * NOS resizes, crops or letterboxes, scales to [0, 1], normalizes per channel and orders the
 * channels where the model runs (the pixels cross to a GPU as bytes, a quarter of the float
 * tensor they become). Set on a spec with {@link ModelSpec.Builder#imageInput}; the input it
 * names is declared {@code uint8} with shape {@code [batch, height, width, 3]} (RGB, rows of
 * pixels, as decoders give them), and the model receives
 * {@code [batch, 3, outputSize, outputSize]} in the spec's precision.
 *
 * <p>The steps follow torchvision's transforms on PIL images unless set otherwise:
 * {@link Resize#SHORTER_SIDE} scales the shorter side to {@link #size()} (the longer one
 * truncated), {@link Resize#EXACT} both sides, {@link Resize#LETTERBOX} the longer side, padding
 * the rest with {@link #padValue()} around the centre (Ultralytics' letterbox); bilinear and
 * bicubic resizing antialias when downscaling, as {@link #resampler()} says; the centre crop of
 * {@link #crop()} pixels starts at {@code round((side - crop) / 2)}, or at
 * {@code floor((side - crop) / 2)} with {@link CropRounding#FLOOR} (transformers' processors).
 * With {@link Resampler#PILLOW} the pixels differ from Pillow's by at most one level (1/255
 * before normalization) on nos-hub's reference images: Pillow computes in fixed point. With
 * {@link Resampler#TORCH} they are libtorch's own on the CPU, and torchvision's on a GPU.
 *
 * <p>All images of a batch share one size (the dynamic batcher groups calls by shape). Calls
 * with this input do not replay CUDA graphs. Instances are immutable and thread-safe.
 */
public final class ImageInput {

  /** The largest {@link #size()} and {@link #crop()}. */
  public static final int MAX_SIZE = 16384;

  /**
   * The most pixels an image may have, before and after resizing (nos-hub's {@code RgbImage}
   * takes the same limit, so every image it decodes is accepted here).
   */
  public static final long MAX_PIXELS = 100_000_000L;

  /** How the image is brought to {@link #size()}. */
  public enum Resize {
    /** Scale so the shorter side is {@code size}, keeping the aspect ratio. */
    SHORTER_SIDE,
    /** Scale both sides to {@code size}. */
    EXACT,
    /** Scale so the longer side is {@code size} and pad the other equally on both ends. */
    LETTERBOX
  }

  /** How pixels are resampled. */
  public enum Interpolation {
    /** The nearest pixel (Pillow's NEAREST; libtorch's nearest-exact). */
    NEAREST,
    /** Linear over 2x2 pixels, antialiased when downscaling. */
    BILINEAR,
    /** Cubic over 4x4 pixels, antialiased when downscaling. */
    BICUBIC
  }

  /**
   * Whose resize an image gets: the two round differently, by one pixel level here and there,
   * and a model is best fed the numbers it was trained and evaluated on.
   */
  public enum Resampler {
    /**
     * Pillow's {@code Image.resize}, what torchvision's transforms do to PIL images:
     * horizontally, rounded to whole pixel values, then vertically, rounded again.
     */
    PILLOW,
    /**
     * torchvision's resize of a uint8 tensor, what transformers 5's default (torchvision)
     * image processors do: on the CPU libtorch's uint8 antialiased kernel (int16 weights), on a
     * GPU in floating point over both sides at once, rounded once.
     */
    TORCH
  }

  /** How the offset of the centre crop is rounded when the margin is odd. */
  public enum CropRounding {
    /** {@code round((side - crop) / 2)}, half to even: torchvision's {@code center_crop}. */
    HALF_EVEN,
    /** {@code floor((side - crop) / 2)}: transformers' image processors. */
    FLOOR
  }

  /**
   * Where an image lands in the model's input: it is resized to {@code resizedWidth x
   * resizedHeight}, then the {@code outputSize} square at ({@code -left}, {@code -top}) of it is
   * kept (a crop: {@code left, top <= 0}) or it is pasted at ({@code left}, {@code top}) of an
   * {@code outputSize} square (a letterbox: {@code left, top >= 0}). An input pixel (x, y) maps
   * back to ((x - left) / scaleX, (y - top) / scaleY) in the original image.
   */
  public record Geometry(int resizedWidth, int resizedHeight, int left, int top, int outputSize,
      double scaleX, double scaleY) {}

  private final int size;
  private final Resize resize;
  private final Interpolation interpolation;
  private final int crop;
  private final float[] mean;
  private final float[] std;
  private final boolean bgr;
  private final int padValue;
  private final Resampler resampler;
  private final CropRounding cropRounding;

  private ImageInput(Builder b) {
    this.size = b.size;
    this.resize = b.resize;
    this.interpolation = b.interpolation;
    this.crop = b.crop;
    this.mean = b.mean.clone();
    this.std = b.std.clone();
    this.bgr = b.bgr;
    this.padValue = b.padValue;
    this.resampler = b.resampler;
    this.cropRounding = b.cropRounding;
  }

  /**
   * A builder with no size yet ({@link Builder#size} is required); see the setters for the
   * defaults. The entry point every public builder of NOS has (docs/api-conventions.md).
   */
  public static Builder builder() {
    return new Builder();
  }

  /** Shorthand for {@code builder().size(size)}, as specs read best. */
  public static Builder resizeTo(int size) {
    return builder().size(size);
  }

  /** The resize size (see {@link #resize()}). */
  public int size() {
    return size;
  }

  public Resize resize() {
    return resize;
  }

  public Interpolation interpolation() {
    return interpolation;
  }

  /** The side of the centre crop, or 0 for none. */
  public int crop() {
    return crop;
  }

  /** The per-channel mean subtracted after scaling to [0, 1], in the model's channel order. */
  public float[] mean() {
    return mean.clone();
  }

  /** The per-channel standard deviation divided by, in the model's channel order. */
  public float[] std() {
    return std.clone();
  }

  /** Whether the model takes blue, green, red rather than red, green, blue. */
  public boolean bgr() {
    return bgr;
  }

  /** The pixel value (0-255) letterbox padding is filled with. */
  public int padValue() {
    return padValue;
  }

  /** Whose resize the image gets. */
  public Resampler resampler() {
    return resampler;
  }

  /** How the centre crop's offset is rounded. */
  public CropRounding cropRounding() {
    return cropRounding;
  }

  /** The side of the square the model receives: the crop if set, else the size. */
  public int outputSize() {
    return crop > 0 ? crop : size;
  }

  /**
   * Where an image of {@code width x height} lands.
   *
   * @throws IllegalArgumentException if a side is below 1, the image has more than
   *     {@link #MAX_PIXELS} pixels or would have once resized, or is smaller than the crop once
   *     resized
   */
  public Geometry geometry(int width, int height) {
    if (width < 1 || height < 1 || (long) width * height > MAX_PIXELS) {
      throw new IllegalArgumentException("image must have at least 1 pixel on each side and at"
          + " most " + MAX_PIXELS + " pixels but was " + width + "x" + height);
    }
    switch (resize) {
      case LETTERBOX -> {
        double r = Math.min((double) size / height, (double) size / width);
        int nw = Math.max(1, (int) Math.rint(width * r));
        int nh = Math.max(1, (int) Math.rint(height * r));
        int left = (int) Math.rint((size - nw) / 2.0 - 0.1);
        int top = (int) Math.rint((size - nh) / 2.0 - 0.1);
        return new Geometry(nw, nh, left, top, size, r, r);
      }
      case EXACT -> {
        return cropped(size, size, width, height);
      }
      case SHORTER_SIDE -> {
        int shorter = Math.min(width, height);
        long longer = (long) ((long) size * Math.max(width, height) / (double) shorter);
        if (longer * size > MAX_PIXELS) {
          throw new IllegalArgumentException("image of " + width + "x" + height + " would be"
              + " resized to " + longer + "x" + size + ", more than " + MAX_PIXELS + " pixels");
        }
        int nw = width <= height ? size : (int) longer;
        int nh = width <= height ? (int) longer : size;
        return cropped(nw, nh, width, height);
      }
      default -> throw new AssertionError(resize);
    }
  }

  private Geometry cropped(int nw, int nh, int width, int height) {
    int out = outputSize();
    if (nw < out || nh < out) {
      throw new IllegalArgumentException("image of " + width + "x" + height + " resized to "
          + nw + "x" + nh + " is smaller than the crop of " + out);
    }
    int left = crop > 0 ? offset(nw - out) : 0;
    int top = crop > 0 ? offset(nh - out) : 0;
    return new Geometry(nw, nh, -left, -top, out, (double) nw / width, (double) nh / height);
  }

  private int offset(int margin) {
    return cropRounding == CropRounding.FLOOR ? margin / 2 : (int) Math.rint(margin / 2.0);
  }

  public Builder toBuilder() {
    Builder b = new Builder();
    b.size = size;
    b.resize = resize;
    b.interpolation = interpolation;
    b.crop = crop;
    b.mean = mean.clone();
    b.std = std.clone();
    b.bgr = bgr;
    b.padValue = padValue;
    b.resampler = resampler;
    b.cropRounding = cropRounding;
    return b;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ImageInput i && size == i.size && resize == i.resize
        && interpolation == i.interpolation && crop == i.crop && Arrays.equals(mean, i.mean)
        && Arrays.equals(std, i.std) && bgr == i.bgr && padValue == i.padValue
        && resampler == i.resampler && cropRounding == i.cropRounding;
  }

  @Override
  public int hashCode() {
    return Objects.hash(size, resize, interpolation, crop, Arrays.hashCode(mean),
        Arrays.hashCode(std), bgr, padValue, resampler, cropRounding);
  }

  @Override
  public String toString() {
    return "ImageInput{size=" + size + ", " + resize + ", " + interpolation + ", " + resampler
        + (crop > 0 ? ", crop=" + crop + " " + cropRounding : "")
        + ", mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std)
        + (bgr ? ", bgr" : "")
        + (resize == Resize.LETTERBOX ? ", pad=" + padValue : "") + "}";
  }

  /**
   * Builds an {@link ImageInput}. A setting made twice keeps the last value; a null argument is a
   * {@link NullPointerException} naming it. Not thread-safe.
   */
  public static final class Builder {
    private int size;
    private Resize resize = Resize.SHORTER_SIDE;
    private Interpolation interpolation = Interpolation.BILINEAR;
    private int crop;
    private float[] mean = {0f, 0f, 0f};
    private float[] std = {1f, 1f, 1f};
    private boolean bgr;
    private int padValue = 114;
    private Resampler resampler = Resampler.PILLOW;
    private CropRounding cropRounding = CropRounding.HALF_EVEN;

    private Builder() {}

    /** The resize size, 1 to {@link #MAX_SIZE}. */
    public Builder size(int size) {
      if (size < 1 || size > MAX_SIZE) {
        throw new IllegalArgumentException("ImageInput.size must be 1 to " + MAX_SIZE
            + " but was " + size);
      }
      this.size = size;
      return this;
    }

    /** How to resize; {@link Resize#SHORTER_SIDE} unless set. */
    public Builder resize(Resize resize) {
      this.resize = Objects.requireNonNull(resize, "ImageInput.resize must not be null");
      return this;
    }

    /** How to resample; {@link Interpolation#BILINEAR} unless set. */
    public Builder interpolation(Interpolation interpolation) {
      this.interpolation = Objects.requireNonNull(interpolation,
          "ImageInput.interpolation must not be null");
      return this;
    }

    /** Whose resize; {@link Resampler#PILLOW} unless set. */
    public Builder resampler(Resampler resampler) {
      this.resampler = Objects.requireNonNull(resampler, "ImageInput.resampler must not be null");
      return this;
    }

    /** How the crop offset is rounded; {@link CropRounding#HALF_EVEN} unless set. */
    public Builder cropRounding(CropRounding rounding) {
      this.cropRounding = Objects.requireNonNull(rounding,
          "ImageInput.cropRounding must not be null");
      return this;
    }

    /** The side of a centre crop, 1 to the size, or 0 (the default) for none. */
    public Builder crop(int crop) {
      if (crop < 0 || crop > MAX_SIZE) {
        throw new IllegalArgumentException("ImageInput.crop must be 0 (none) to " + MAX_SIZE
            + " but was " + crop);
      }
      this.crop = crop;
      return this;
    }

    /** Per-channel mean and standard deviation (three each, std positive); 0 and 1 unless set. */
    public Builder normalize(float[] mean, float[] std) {
      Objects.requireNonNull(mean, "ImageInput.normalize mean must not be null");
      Objects.requireNonNull(std, "ImageInput.normalize std must not be null");
      if (mean.length != 3 || std.length != 3) {
        throw new IllegalArgumentException("ImageInput.normalize needs 3 means and 3 standard"
            + " deviations but got " + Arrays.toString(mean) + " and " + Arrays.toString(std));
      }
      for (int c = 0; c < 3; c++) {
        if (!Float.isFinite(mean[c]) || !(std[c] > 0) || !Float.isFinite(std[c])) {
          throw new IllegalArgumentException("ImageInput.normalize needs finite means and"
              + " positive finite standard deviations but got " + Arrays.toString(mean)
              + " and " + Arrays.toString(std));
        }
      }
      this.mean = mean.clone();
      this.std = std.clone();
      return this;
    }

    /** Whether the model takes BGR; false (RGB) unless set. */
    public Builder bgr(boolean bgr) {
      this.bgr = bgr;
      return this;
    }

    /** The letterbox fill, 0 to 255; 114 (Ultralytics') unless set. */
    public Builder padValue(int padValue) {
      if (padValue < 0 || padValue > 255) {
        throw new IllegalArgumentException("ImageInput.padValue must be 0 to 255 but was "
            + padValue);
      }
      this.padValue = padValue;
      return this;
    }

    /**
     * @throws IllegalArgumentException if no size was set, the crop is larger than the size, or
     *     the crop is set with {@link Resize#LETTERBOX}
     */
    public ImageInput build() {
      if (size == 0) {
        throw new IllegalArgumentException("ImageInput.size is required (1 to " + MAX_SIZE
            + ") but was not set");
      }
      if (crop > size) {
        throw new IllegalArgumentException("ImageInput.crop (" + crop + ") must not exceed"
            + " its size (" + size + ")");
      }
      if (crop > 0 && resize == Resize.LETTERBOX) {
        throw new IllegalArgumentException("ImageInput.crop must be 0 with a letterbox resize"
            + " but was " + crop);
      }
      return new ImageInput(this);
    }
  }
}
