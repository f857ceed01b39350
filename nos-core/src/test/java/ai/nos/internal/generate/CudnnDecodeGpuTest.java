package ai.nos.internal.generate;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Device;
import ai.nos.Precision;
import ai.nos.internal.torch.TorchRuntime;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Llama export's decode step through cuDNN's attention kernel (make_tiny_llama.py
 * {@code --cudnn-attention}, its default since the twenty-second session) in NOS's libtorch, on
 * {@code cuda:0} in fp16: the same export made with and without the flag (same seed, same
 * weights; {@code --size h64}, heads of 64) gives the same logits within fp16 rounding from the
 * same caches at several positions, but not bit for bit (another kernel ran). The
 * export checks the same in Python's torch; this is the libtorch NOS runs (2.10, with whatever
 * cuDNN the process loads). GPU machine only: scripts/gpu/gpu-tests.sh makes both exports and
 * passes {@code -Dnos.test.llmH64=DIR} (DIR/cudnn, DIR/sdpa); written after the twenty-second
 * session's lease.
 */
@Tag("gpu")
final class CudnnDecodeGpuTest {
  private static final String OP = "_scaled_dot_product_cudnn_attention";

  @Test
  void cudnnDecodeStep_givesTheSdpaStepsLogits_inFp16() throws IOException {
    String dir = System.getProperty("nos.test.llmH64");
    Assumptions.assumeTrue(dir != null, "no h64 exports: set -Dnos.test.llmH64");
    Path cudnnFile = Path.of(dir, "cudnn", "model.pt");
    Path sdpaFile = Path.of(dir, "sdpa", "model.pt");
    assertTrue(code(cudnnFile).contains(OP), cudnnFile + " does not call " + OP);
    Device cuda = Device.cuda(0);
    try (DecoderModel cudnn = DecoderModel.load("h64-cudnn", cudnnFile, cuda, Precision.FP16);
        DecoderModel sdpa = DecoderModel.load("h64-sdpa", sdpaFile, cuda, Precision.FP16);
        PointerScope scope = new PointerScope()) {
      assertTrue(cudnn.headDim() == 64 && cudnn.decodesFirstSlots(),
          "the h64 export: head dim " + cudnn.headDim() + ", decode_first "
              + cudnn.decodesFirstSlots());
      int rows = 4;
      int positions = 257;
      TensorOptions half = new TensorOptions(torch.ScalarType.Half)
          .device(new DeviceOptional(cudnn.torchDevice()));
      TensorOptions longs = new TensorOptions(torch.ScalarType.Long)
          .device(new DeviceOptional(cudnn.torchDevice()));
      torch.manual_seed(7);
      long[] shape = {cudnn.layers(), rows + 1, positions, cudnn.kvHeads(), cudnn.headDim()};
      Tensor k = torch.randn(shape, half);
      Tensor v = torch.randn(shape, half);
      Tensor slots = torch.arange(new Scalar(rows), longs);
      Tensor ids = slots.mul(new Scalar(37L)).add(new Scalar(5L))
          .remainder(new Scalar((long) cudnn.vocabSize())).view(rows, 1);
      double worst = 0;
      boolean differs = false;
      for (long position : new long[] {0, 1, 100, 256}) {
        Tensor pos = torch.full(new long[] {rows, 1}, new Scalar(position), longs);
        Tensor a = sdpa.decodeStep(ids, pos, slots, k.clone(), v.clone(), null, null)
            .to(torch.ScalarType.Float);
        Tensor b = cudnn.decodeStep(ids, pos, slots, k.clone(), v.clone(), null, null)
            .to(torch.ScalarType.Float);
        TorchRuntime.synchronize(cuda);
        double largest = a.abs().max().item().toDouble();
        double diff = a.sub(b).abs().max().item().toDouble();
        assertTrue(Double.isFinite(diff) && largest > 0,
            "position " + position + ": logits not finite (" + diff + ", " + largest + ")");
        worst = Math.max(worst, diff / largest);
        differs |= diff > 0;
      }
      // Two kernels round differently somewhere in 4 x 1,024 fp16 logits: equal bits would
      // mean the flagged export ran SDPA's kernel too (its cuDNN branch not taken).
      assertTrue(differs, "the cuDNN export's logits are bit-equal to SDPA's: was cuDNN's"
          + " attention called?");
      assertTrue(worst < 2e-2, "cuDNN's decode step differs from SDPA's by " + worst
          + " of the largest logit (fp16 rounding is ~1e-3)");
    }
  }

  /** The TorchScript code files of an export, concatenated (ZipFile: torch's entries are
   * stored with data descriptors, which ZipInputStream refuses). */
  private static String code(Path file) throws IOException {
    StringBuilder sb = new StringBuilder();
    try (ZipFile zip = new ZipFile(file.toFile())) {
      for (ZipEntry e : java.util.Collections.list(zip.entries())) {
        if (e.getName().endsWith(".py")) {
          try (InputStream in = zip.getInputStream(e)) {
            sb.append(new String(in.readAllBytes(), StandardCharsets.UTF_8));
          }
        }
      }
    }
    return sb.toString();
  }
}
