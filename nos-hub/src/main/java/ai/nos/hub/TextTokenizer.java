package ai.nos.hub;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/*
 * A HuggingFace tokenizer.json through DJL's binding of the Rust tokenizers library, which is
 * what transformers' fast tokenizers run, so ids match Python's exactly.
 *
 * The native library comes from the DJL jar (extracted once to ~/.djl.ai); nothing is fetched
 * over the network. The jar holds the CPU build only, and DJL, on a machine with CUDA, asks for
 * a CUDA build it would download (and fails offline); {@link #cpuFlavor()} sets DJL's
 * {@code RUST_FLAVOR} to {@code cpu} before the first tokenizer unless the application set it
 * (as a system property or environment variable). The Rust tokenizer is immutable once built and encodes from many threads
 * at once; DJL's wrapper adds no state per call.
 *
 * Truncation is the tokenizer's own (special tokens count toward the length); padding is done
 * here, with id 0 and mask 0, so that a batch is padded to its longest text or to a length the
 * model fixes. Models that honour the attention mask (the BERT family, CLIP) ignore the pads.
 */
final class TextTokenizer implements AutoCloseable {

  /** Token ids, attention mask and token type ids of a batch, {@code [batch, length]} each. */
  record Batch(long[] ids, long[] mask, long[] typeIds, int size, int length) {}

  private final HuggingFaceTokenizer tokenizer;
  private final Path file;

  private TextTokenizer(HuggingFaceTokenizer tokenizer, Path file) {
    this.tokenizer = tokenizer;
    this.file = file;
  }

  /**
   * Reads a tokenizer.json that truncates to {@code maxLength} tokens.
   *
   * @throws IllegalArgumentException if the file does not exist or is not a valid tokenizer
   */
  static TextTokenizer open(Path file, int maxLength) {
    if (file == null) {
      throw new IllegalArgumentException("tokenizer file must not be null");
    }
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("tokenizer file " + file + " does not exist");
    }
    cpuFlavor();
    try {
      return new TextTokenizer(HuggingFaceTokenizer.newInstance(file, Map.of(
          "maxLength", Integer.toString(maxLength), "truncation", "true", "padding", "false",
          "addSpecialTokens", "true")), file);
    } catch (IOException e) {
      throw new UncheckedIOException("tokenizer file " + file + " cannot be read: " + e, e);
    } catch (ai.djl.engine.EngineException e) {
      throw new IllegalStateException("the HuggingFace tokenizers native library (from"
          + " ai.djl.huggingface:tokenizers) cannot be loaded to read " + file + ": " + e, e);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "tokenizer file " + file + " is not a valid HuggingFace tokenizer.json: " + e, e);
    }
  }

  /** DJL's setting naming the native build to load: {@code cpu}, or a CUDA one it downloads. */
  static final String FLAVOR = "RUST_FLAVOR";

  /** Sets {@link #FLAVOR} to {@code cpu} unless the application set it; see the class notes. */
  static synchronized void cpuFlavor() {
    if (System.getenv(FLAVOR) == null && System.getProperty(FLAVOR) == null) {
      System.setProperty(FLAVOR, "cpu");
    }
  }

  /**
   * Encodes texts, padded to {@code length} tokens, or to the longest text when
   * {@code length < 1}.
   */
  Batch encode(List<String> texts, int length) {
    Encoding[] encodings = new Encoding[texts.size()];
    int longest = 1;
    for (int i = 0; i < encodings.length; i++) {
      encodings[i] = tokenizer.encode(texts.get(i));
      longest = Math.max(longest, encodings[i].getIds().length);
    }
    int n = length > 0 ? length : longest;
    long[] ids = new long[texts.size() * n];
    long[] mask = new long[ids.length];
    long[] types = new long[ids.length];
    for (int i = 0; i < encodings.length; i++) {
      long[] e = encodings[i].getIds();
      long[] m = encodings[i].getAttentionMask();
      long[] t = encodings[i].getTypeIds();
      int count = Math.min(e.length, n);
      System.arraycopy(e, 0, ids, i * n, count);
      System.arraycopy(m, 0, mask, i * n, count);
      System.arraycopy(t, 0, types, i * n, count);
    }
    return new Batch(ids, mask, types, texts.size(), n);
  }

  @Override
  public void close() {
    tokenizer.close();
  }

  @Override
  public String toString() {
    return "tokenizer " + file;
  }
}
