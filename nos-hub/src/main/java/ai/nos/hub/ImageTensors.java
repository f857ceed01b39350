package ai.nos.hub;

import ai.nos.DType;
import ai.nos.ImageInput;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Signature;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.util.Arrays;
import java.util.List;

/*
 * An RgbImage to the input tensor of an image model, as ImagePreprocessing describes it, on the
 * CPU in plain Java.
 *
 * The steps and their rounding follow torchvision's transforms on PIL images (and HuggingFace's
 * image processors, which agree with them except where noted), so a model sees the same numbers
 * as it did in Python:
 *   - shorter_side: the shorter side becomes `resize` and the longer int(resize * long / short)
 *     (truncated, as torchvision's Resize with one size);
 *   - exact: both sides become `resize`;
 *   - letterbox (Ultralytics' LetterBox): scale r = min(resize / h, resize / w), new size
 *     round(w * r) x round(h * r) (half to even, as Python's round), pasted at
 *     left = round((resize - newW) / 2 - 0.1), top likewise, on a canvas of padValue;
 *   - resampling: Pillow's Image.resize (PilResize), antialiased when downscaling, or with
 *     resampler torch torchvision's resize of a uint8 tensor on the CPU (PilResize with
 *     libtorch's int16 weights: transformers 5's default processors). Ultralytics
 *     itself letterboxes with OpenCV's INTER_LINEAR, which does not antialias, so a YOLO model
 *     sees slightly smoother pixels here than in Ultralytics' own pipeline;
 *   - centre crop: top = round((h - crop) / 2) with half to even, as torchvision's center_crop,
 *     or floor((h - crop) / 2) with cropRounding floor, as transformers' processors (they
 *     differ by one pixel when the margin h - crop is 3 mod 4);
 *   - value = (pixel / 255 - mean) / std in float32, channels first, in the channel order.
 *
 * The facades a hub loads run these steps on the model's device instead (onDevice: nos-core's
 * ai.nos.ImageInput, libtorch's antialiased resize, within a pixel level of this path); this
 * path serves models the application loaded itself with a float32 input (the facades' of()),
 * and is the reference the device path is tested against.
 */
final class ImageTensors {

  /**
   * The input tensor, and how its coordinates map back to the original image's: original x =
   * (input x - left) / scaleX, original y = (input y - top) / scaleY. A crop has negative
   * offsets, a letterbox positive ones.
   */
  record Prepared(Tensor tensor, double scaleX, double scaleY, double left, double top) {

    /** An x coordinate of the input mapped back to the original image. */
    double x(double x) {
      return (x - left) / scaleX;
    }

    /** A y coordinate of the input mapped back to the original image. */
    double y(double y) {
      return (y - top) / scaleY;
    }
  }

  private ImageTensors() {}

  /**
   * The spec with its image input taken as decoded pixels (uint8 {@code [batch, height, width,
   * 3]}) and pre-processed on the model's device as {@code p} says, or the spec unchanged when
   * its one input is not a float32 {@code [batch, 3, side, side]} image of {@code p}'s size, or
   * when it batches: the dynamic batcher joins calls of one shape, so raw pixels would batch only
   * images of one size, where pre-processed tensors of any image batch together.
   */
  static ModelSpec onDevice(ModelSpec spec, ImagePreprocessing p) {
    List<TensorSpec> inputs = spec.signature().inputs();
    if (inputs.size() != 1 || spec.batching().isPresent()) {
      return spec;
    }
    TensorSpec in = inputs.get(0);
    long[] shape = in.shape();
    int out = p.outputSize();
    if (in.dtype() != DType.FLOAT32 || shape.length != 4 || shape[1] != 3
        || (shape[2] != -1 && shape[2] != out) || (shape[3] != -1 && shape[3] != out)) {
      return spec;
    }
    Signature.Builder sig = Signature.builder().input(in.name(), DType.UINT8, shape[0], -1, -1, 3);
    spec.signature().outputs().forEach(o -> sig.output(o.name(), o.dtype(), o.shape()));
    return spec.toBuilder().signature(sig.build()).imageInput(in.name(), toImageInput(p))
        .build();
  }

  /** The same steps as nos-core's {@link ImageInput}. */
  static ImageInput toImageInput(ImagePreprocessing p) {
    float[] mean = new float[3];
    float[] std = new float[3];
    for (int c = 0; c < 3; c++) {
      mean[c] = p.mean().get(c).floatValue();
      std[c] = p.std().get(c).floatValue();
    }
    ImageInput.Builder b = ImageInput.resizeTo(p.resize())
        .resize(switch (p.resizeMode()) {
          case SHORTER_SIDE -> ImageInput.Resize.SHORTER_SIDE;
          case EXACT -> ImageInput.Resize.EXACT;
          case LETTERBOX -> ImageInput.Resize.LETTERBOX;
        })
        .interpolation(switch (p.interpolation()) {
          case NEAREST -> ImageInput.Interpolation.NEAREST;
          case BILINEAR -> ImageInput.Interpolation.BILINEAR;
          case BICUBIC -> ImageInput.Interpolation.BICUBIC;
        })
        .resampler(switch (p.resampler()) {
          case PILLOW -> ImageInput.Resampler.PILLOW;
          case TORCH -> ImageInput.Resampler.TORCH;
        })
        .cropRounding(switch (p.cropRounding()) {
          case HALF_EVEN -> ImageInput.CropRounding.HALF_EVEN;
          case FLOOR -> ImageInput.CropRounding.FLOOR;
        })
        .crop(p.crop()).normalize(mean, std)
        .bgr(p.channels() == ImagePreprocessing.ChannelOrder.BGR);
    if (p.resizeMode() == ImagePreprocessing.ResizeMode.LETTERBOX) {
      b.padValue(p.padValue());
    }
    return b.build();
  }

  /**
   * The input for {@code model}'s {@code input}: the image's pixels when the model
   * pre-processes them on its device ({@link #onDevice}), else the tensor {@link #prepare}
   * makes; with the same coordinate mapping either way.
   */
  static Prepared input(Model model, String input, RgbImage image, ImagePreprocessing p) {
    ImageInput device = model.spec().imageInputs().get(input);
    if (device == null) {
      return prepare(image, p);
    }
    ImageInput.Geometry g = device.geometry(image.width(), image.height());
    return new Prepared(Tensor.of(image.pixels(), 1, image.height(), image.width(), 3),
        g.scaleX(), g.scaleY(), g.left(), g.top());
  }

  /**
   * Returns the tensor {@code [1, 3, size, size]} of an image: resized in Java where
   * {@link ImageInput#geometry} places it (the device path's geometry, one implementation), then
   * cropped, or pasted on a letterbox canvas, and normalized.
   */
  static Prepared prepare(RgbImage image, ImagePreprocessing p) {
    ImageInput.Geometry g = toImageInput(p).geometry(image.width(), image.height());
    int nw = g.resizedWidth();
    int nh = g.resizedHeight();
    int out = g.outputSize();
    if (p.resizeMode() != ImagePreprocessing.ResizeMode.LETTERBOX) {
      // Only the kept square is resized: the same bytes as resizing all, then cropping.
      byte[] kept = PilResize.resize(image.pixels(), image.width(), image.height(), nw, nh,
          p.interpolation(), p.resampler(), -g.left(), -g.top(), out, out);
      return new Prepared(toTensor(kept, out, 0, 0, out, p), g.scaleX(), g.scaleY(), g.left(),
          g.top());
    }
    byte[] resized = PilResize.resize(image.pixels(), image.width(), image.height(), nw, nh,
        p.interpolation(), p.resampler());
    byte[] canvas = new byte[out * out * 3];
    Arrays.fill(canvas, (byte) p.padValue());
    for (int y = 0; y < nh; y++) {
      System.arraycopy(resized, y * nw * 3, canvas, ((g.top() + y) * out + g.left()) * 3,
          nw * 3);
    }
    return new Prepared(toTensor(canvas, out, 0, 0, out, p), g.scaleX(), g.scaleY(), g.left(),
        g.top());
  }

  /** Crops {@code out x out} at (left, top) of an image {@code width} wide, and normalizes. */
  private static Tensor toTensor(byte[] rgb, int width, int left, int top, int out,
      ImagePreprocessing p) {
    float[] data = new float[3 * out * out];
    boolean bgr = p.channels() == ImagePreprocessing.ChannelOrder.BGR;
    int plane = out * out;
    for (int c = 0; c < 3; c++) {
      int source = bgr ? 2 - c : c;
      float mean = p.mean().get(c).floatValue();
      float std = p.std().get(c).floatValue();
      for (int y = 0; y < out; y++) {
        int row = ((top + y) * width + left) * 3 + source;
        int o = c * plane + y * out;
        for (int x = 0; x < out; x++) {
          data[o + x] = ((rgb[row + x * 3] & 0xff) / 255f - mean) / std;
        }
      }
    }
    return Tensor.of(data, 1, 3, out, out);
  }
}
