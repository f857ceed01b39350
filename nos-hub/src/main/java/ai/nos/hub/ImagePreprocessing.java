package ai.nos.hub;

import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * How an image becomes the input tensor of an image model: resize, optionally crop the centre,
 * scale the pixels to [0, 1], then subtract the mean and divide by the standard deviation per
 * channel, in the model's channel order. The tensor is {@code [batch, 3, size, size]} with
 * {@code size} the {@link #outputSize()}.
 *
 * <p>In JSON:
 *
 * <pre>{@code
 * {"resize": 232, "resizeMode": "shorter_side", "interpolation": "bilinear", "crop": 224,
 *  "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "channels": "rgb",
 *  "resampler": "pillow", "cropRounding": "half_even"}
 * }</pre>
 *
 * <p>{@code resampler} and {@code cropRounding} name whose pipeline the numbers follow:
 * torchvision's transforms on PIL images resize with Pillow and round the crop offset half to even;
 * transformers 5's default image processors resize uint8 tensors with torchvision
 * ({@code "torch"}) and floor the offset ({@code "floor"}).
 *
 * <p>Only {@code resize} is required; the others default as the builder's setters say.
 *
 * <p>Instances are immutable and thread-safe. Builders are not thread-safe.
 */
public final class ImagePreprocessing {

  /** The largest {@link #resize()} accepted. */
  public static final int MAX_SIZE = 8192;

  /** How an image is brought to the resize size. */
  public enum ResizeMode {
    /** Scale so the shorter side is {@code resize}, keeping the aspect ratio (then crop). */
    SHORTER_SIDE,
    /** Scale both sides to {@code resize}, ignoring the aspect ratio. */
    EXACT,
    /**
     * Scale so the longer side is {@code resize}, keeping the aspect ratio, and pad the shorter
     * side equally on both ends with {@code padValue}; box coordinates are mapped back through
     * the same scale and offset.
     */
    LETTERBOX;

    /** The name in JSON, e.g. {@code "shorter_side"}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** How pixels are resampled when resizing. */
  public enum Interpolation {
    /** The nearest pixel. */
    NEAREST,
    /** Linear in each direction over 2x2 pixels. */
    BILINEAR,
    /** Cubic in each direction over 4x4 pixels. */
    BICUBIC;

    /** The name in JSON, e.g. {@code "bilinear"}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** Whose resize the pixels get (the two differ by a pixel level now and then). */
  public enum Resampler {
    /** Pillow's {@code Image.resize}: torchvision's transforms on PIL images. */
    PILLOW,
    /**
     * torchvision's resize of a uint8 tensor: transformers 5's default image processors (on the
     * CPU, libtorch's uint8 kernels).
     */
    TORCH;

    /** The name in JSON, e.g. {@code "torch"}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** How the centre crop's offset is rounded when the margin is odd. */
  public enum CropRounding {
    /** {@code round((side - crop) / 2)}, half to even: torchvision's {@code center_crop}. */
    HALF_EVEN,
    /** {@code floor((side - crop) / 2)}: transformers' image processors. */
    FLOOR;

    /** The name in JSON, e.g. {@code "floor"}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** The order of the three colour channels in the input tensor. */
  public enum ChannelOrder {
    /** Red, green, blue (PyTorch models). */
    RGB,
    /** Blue, green, red (OpenCV-trained models). */
    BGR;

    /** The name in JSON, e.g. {@code "rgb"}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private final int resize;
  private final ResizeMode resizeMode;
  private final Interpolation interpolation;
  private final int crop;
  private final List<Double> mean;
  private final List<Double> std;
  private final ChannelOrder channels;
  private final int padValue;
  private final Resampler resampler;
  private final CropRounding cropRounding;

  private ImagePreprocessing(Builder b) {
    this.resize = b.resize;
    this.resizeMode = b.resizeMode;
    this.interpolation = b.interpolation;
    this.crop = b.crop;
    this.mean = b.mean;
    this.std = b.std;
    this.channels = b.channels;
    this.padValue = b.padValue;
    this.resampler = b.resampler;
    this.cropRounding = b.cropRounding;
  }

  /** Returns a builder with every default set and no resize size yet. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns a builder holding every setting of this one. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.resize = resize;
    b.resizeMode = resizeMode;
    b.interpolation = interpolation;
    b.crop = crop;
    b.mean = mean;
    b.std = std;
    b.channels = channels;
    b.padValue = padValue;
    b.resampler = resampler;
    b.cropRounding = cropRounding;
    return b;
  }

  /** The size to resize to, in pixels; its meaning depends on {@link #resizeMode()}. */
  public int resize() {
    return resize;
  }

  /** How the image is resized. */
  public ResizeMode resizeMode() {
    return resizeMode;
  }

  /** How pixels are resampled. */
  public Interpolation interpolation() {
    return interpolation;
  }

  /** The side of the centre square cropped after resizing, or 0 for no crop. */
  public int crop() {
    return crop;
  }

  /** The side of the square image the model sees: {@link #crop()} if set, else the resize. */
  public int outputSize() {
    return crop > 0 ? crop : resize;
  }

  /** The per-channel mean subtracted from pixels in [0, 1], in the order of the channels. */
  public List<Double> mean() {
    return mean;
  }

  /** The per-channel standard deviation pixels are divided by, in the order of the channels. */
  public List<Double> std() {
    return std;
  }

  /** The order of the channels in the tensor. */
  public ChannelOrder channels() {
    return channels;
  }

  /** The value, 0-255, of the padding added by {@link ResizeMode#LETTERBOX}; 0 otherwise. */
  public int padValue() {
    return padValue;
  }

  /** Whose resize the pixels get. */
  public Resampler resampler() {
    return resampler;
  }

  /** How the centre crop's offset is rounded. */
  public CropRounding cropRounding() {
    return cropRounding;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof ImagePreprocessing)) {
      return false;
    }
    ImagePreprocessing p = (ImagePreprocessing) o;
    return resize == p.resize && resizeMode == p.resizeMode && interpolation == p.interpolation
        && crop == p.crop && mean.equals(p.mean) && std.equals(p.std) && channels == p.channels
        && padValue == p.padValue && resampler == p.resampler
        && cropRounding == p.cropRounding;
  }

  @Override
  public int hashCode() {
    return Objects.hash(resize, resizeMode, interpolation, crop, mean, std, channels, padValue,
        resampler, cropRounding);
  }

  @Override
  public String toString() {
    return "ImagePreprocessing{resize=" + resize + " " + resizeMode.label() + " "
        + interpolation.label() + " " + resampler.label()
        + (crop > 0 ? ", crop=" + crop + " " + cropRounding.label() : "") + ", mean=" + mean
        + ", std=" + std + ", " + channels.label()
        + (resizeMode == ResizeMode.LETTERBOX ? ", padValue=" + padValue : "") + "}";
  }

  /**
   * Collects the settings. Setters check their value at once and a setting made twice keeps the
   * last value; {@link #build()} checks how they combine and leaves the builder usable. Messages
   * start with the name of the setting. Not thread-safe.
   */
  public static final class Builder {
    private int resize;
    private ResizeMode resizeMode = ResizeMode.SHORTER_SIDE;
    private Interpolation interpolation = Interpolation.BILINEAR;
    private int crop;
    private List<Double> mean = List.of(0.0, 0.0, 0.0);
    private List<Double> std = List.of(1.0, 1.0, 1.0);
    private ChannelOrder channels = ChannelOrder.RGB;
    private int padValue;
    private Resampler resampler = Resampler.PILLOW;
    private CropRounding cropRounding = CropRounding.HALF_EVEN;

    private Builder() {}

    /**
     * Sets the resize size. Required.
     *
     * @throws IllegalArgumentException unless {@code 1 <= size <= MAX_SIZE}
     */
    public Builder resize(int size) {
      this.resize = size(size, "resize");
      return this;
    }

    /**
     * Sets how to resize; {@link ResizeMode#SHORTER_SIDE} by default.
     *
     * @throws NullPointerException if {@code mode} is null
     */
    public Builder resizeMode(ResizeMode mode) {
      this.resizeMode = nonNull(mode, "resizeMode");
      return this;
    }

    /**
     * Sets the resampling; {@link Interpolation#BILINEAR} by default.
     *
     * @throws NullPointerException if {@code interpolation} is null
     */
    public Builder interpolation(Interpolation interpolation) {
      this.interpolation = nonNull(interpolation, "interpolation");
      return this;
    }

    /**
     * Sets whose resize the pixels get; {@link Resampler#PILLOW} by default.
     *
     * @throws NullPointerException if {@code resampler} is null
     */
    public Builder resampler(Resampler resampler) {
      this.resampler = nonNull(resampler, "resampler");
      return this;
    }

    /**
     * Sets how the crop offset is rounded; {@link CropRounding#HALF_EVEN} by default.
     *
     * @throws NullPointerException if {@code rounding} is null
     */
    public Builder cropRounding(CropRounding rounding) {
      this.cropRounding = nonNull(rounding, "cropRounding");
      return this;
    }

    /**
     * Sets the side of the centre crop; none (0) by default.
     *
     * @throws IllegalArgumentException unless {@code 1 <= size <= MAX_SIZE}
     */
    public Builder crop(int size) {
      this.crop = size(size, "crop");
      return this;
    }

    /**
     * Sets the per-channel mean; {@code [0, 0, 0]} by default.
     *
     * @throws NullPointerException if {@code mean} is null
     * @throws IllegalArgumentException unless given 3 values finite as floats
     */
    public Builder mean(double... mean) {
      this.mean = three(mean, "mean", false);
      return this;
    }

    /**
     * Sets the per-channel standard deviation; {@code [1, 1, 1]} by default.
     *
     * @throws NullPointerException if {@code std} is null
     * @throws IllegalArgumentException unless given 3 values finite and {@code > 0} as floats
     */
    public Builder std(double... std) {
      this.std = three(std, "std", true);
      return this;
    }

    /**
     * Sets the channel order; {@link ChannelOrder#RGB} by default.
     *
     * @throws NullPointerException if {@code channels} is null
     */
    public Builder channels(ChannelOrder channels) {
      this.channels = nonNull(channels, "channels");
      return this;
    }

    /**
     * Sets the padding value of {@link ResizeMode#LETTERBOX}; 0 by default.
     *
     * @throws IllegalArgumentException unless {@code 0 <= value <= 255}
     */
    public Builder padValue(int value) {
      if (value < 0 || value > 255) {
        throw new IllegalArgumentException("padValue must be between 0 and 255 but was " + value);
      }
      this.padValue = value;
      return this;
    }

    /**
     * Returns the settings.
     *
     * @throws IllegalArgumentException if resize is not set, the crop is larger than the resize,
     *     a crop is combined with letterboxing, or a pad value with another resize mode
     */
    public ImagePreprocessing build() {
      if (resize == 0) {
        throw new IllegalArgumentException("resize is required");
      }
      if (crop > resize) {
        throw new IllegalArgumentException(
            "crop must be at most resize (" + resize + ") but was " + crop);
      }
      if (crop > 0 && resizeMode == ResizeMode.LETTERBOX) {
        throw new IllegalArgumentException("crop cannot be combined with resizeMode letterbox");
      }
      if (padValue != 0 && resizeMode != ResizeMode.LETTERBOX) {
        throw new IllegalArgumentException(
            "padValue applies only to resizeMode letterbox, not " + resizeMode.label());
      }
      return new ImagePreprocessing(this);
    }

    private static int size(int size, String name) {
      if (size < 1 || size > MAX_SIZE) {
        throw new IllegalArgumentException(
            name + " must be between 1 and " + MAX_SIZE + " but was " + size);
      }
      return size;
    }

    private static <T> T nonNull(T value, String name) {
      return Objects.requireNonNull(value, () -> name + " must not be null");
    }

    private static List<Double> three(double[] values, String name, boolean positive) {
      Objects.requireNonNull(values, () -> name + " must not be null");
      if (values.length != 3) {
        throw new IllegalArgumentException(name + " must have 3 values (one per channel) but had "
            + values.length);
      }
      for (int i = 0; i < 3; i++) {
        if (!Double.isFinite(values[i]) || positive && values[i] <= 0) {
          throw new IllegalArgumentException(name + "[" + i + "] must be a finite number"
              + (positive ? " > 0" : "") + " but was " + values[i]);
        }
        float f = (float) values[i];
        if (!Float.isFinite(f) || positive && f <= 0) {
          throw new IllegalArgumentException(name + "[" + i + "] must be "
              + (positive ? "> 0" : "finite") + " as a float (pixels are normalized in float32)"
              + " but was " + values[i] + ", which is " + f + " as a float");
        }
      }
      return List.of(values[0], values[1], values[2]);
    }
  }
}
