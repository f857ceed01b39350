package ai.nos.hub;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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
 * (as a system property or environment variable). The Rust tokenizer is immutable once built and
 * encodes from many threads at once; DJL's wrapper adds no state per call.
 *
 * Truncation is the tokenizer's own (special tokens count toward the length, and the last one
 * stays: CLIP's <|endoftext|>, BERT's [SEP]), to the length given here, whatever truncation block
 * the file has (all-MiniLM-L6-v2's says 128; its pipeline truncates at 256). Padding is done
 * here, so that a batch is padded to its longest text or to a length the model fixes, with mask
 * 0 and the pad id of the file's {@code padding} block, as transformers' fast tokenizers read
 * it: {@code <|endoftext|>} in the hub's CLIP tokenizer.json (how CLIPProcessor pads), [PAD] (0)
 * in BERT's. A file without that block is padded with id 0. Models that honour the attention
 * mask (the BERT family, CLIP) compute the same whatever the pad id; the ids then equal those of
 * the Python pipelines as well (TokenizerParityTest, against transformers).
 */
final class TextTokenizer implements AutoCloseable {

  /** Token ids, attention mask and token type ids of a batch, {@code [batch, length]} each. */
  record Batch(long[] ids, long[] mask, long[] typeIds, int size, int length) {}

  private static final JsonFactory JSON = new JsonFactory();

  private final HuggingFaceTokenizer tokenizer;
  private final Path file;
  private final long padId;

  private TextTokenizer(HuggingFaceTokenizer tokenizer, Path file, long padId) {
    this.tokenizer = tokenizer;
    this.file = file;
    this.padId = padId;
  }

  /**
   * Reads a tokenizer.json that truncates to {@code maxLength} tokens.
   *
   * @throws IllegalArgumentException if the file does not exist or is not a valid tokenizer
   *     (its padding block included)
   */
  static TextTokenizer open(Path file, int maxLength) {
    if (file == null) {
      throw new IllegalArgumentException("tokenizer file must not be null");
    }
    return open(file, read(file), maxLength);
  }

  /**
   * As {@link #open(Path, int)}, from the bytes of {@code file} already read (and checked
   * against its pin: {@link PinnedFiles}); the file is not opened again.
   */
  static TextTokenizer open(Path file, byte[] json, int maxLength) {
    long padId = padId(json, file);
    return new TextTokenizer(load(file, json, Map.of("maxLength", Integer.toString(maxLength),
        "truncation", "true", "padding", "false", "addSpecialTokens", "true")), file, padId);
  }

  /** A tokenizer.json file for {@link #load}, which SpeechRecognizer and TextGenerator use. */
  static HuggingFaceTokenizer load(Path file, Map<String, String> options) {
    return load(file, read(file), options);
  }

  /**
   * The largest tokenizer.json read: far above the largest published ones (tens of MB, for
   * vocabularies of a few hundred thousand tokens), far below what would exhaust a heap.
   */
  static final int MAX_TOKENIZER_BYTES = 256 << 20;

  /** A tokenizer.json's bytes, at most {@link #MAX_TOKENIZER_BYTES} of them. */
  static byte[] read(Path file) {
    return read(file, MAX_TOKENIZER_BYTES);
  }

  /** {@link #read(Path)} with another cap (tests). */
  static byte[] read(Path file, int maxBytes) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("tokenizer file " + file + " does not exist");
    }
    byte[] bytes;
    try {
      bytes = ai.nos.internal.files.BoundedFiles.readAtMost(file, maxBytes);
    } catch (IOException e) {
      throw new UncheckedIOException("tokenizer file " + file + " cannot be read: " + e, e);
    }
    if (bytes == null) {
      throw new IllegalArgumentException("tokenizer file " + file + " holds more than "
          + maxBytes + " bytes, the most a tokenizer.json is read with");
    }
    return bytes;
  }

  /**
   * A tokenizer.json's bytes read into the native tokenizers library, checked first
   * ({@link TokenizerJson}: what would abort the process is refused here), then made to encode
   * a probe text, so that a tokenizer that fails on every text (a WordPiece vocabulary without
   * its unknown token) is refused now, by file, rather than at each call.
   *
   * @param json the file's bytes, as read (and checked against its pin) once
   * @throws IllegalArgumentException if they are not a valid tokenizer
   * @throws UncheckedIOException if they cannot be read
   * @throws IllegalStateException if the native library cannot be loaded
   */
  static HuggingFaceTokenizer load(Path file, byte[] json, Map<String, String> options) {
    String text = TokenizerJson.check(json, file);
    cpuFlavor();
    HuggingFaceTokenizer tokenizer;
    try {
      tokenizer = HuggingFaceTokenizer.newInstance(
          new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), options);
    } catch (IOException e) {
      throw new UncheckedIOException("tokenizer file " + file + " cannot be read: " + e, e);
    } catch (ai.djl.engine.EngineException e) {
      throw new IllegalStateException("the HuggingFace tokenizers native library (from"
          + " ai.djl.huggingface:tokenizers) cannot be loaded to read " + file + ": " + e, e);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "tokenizer file " + file + " is not a valid HuggingFace tokenizer.json: " + e, e);
    }
    try {
      tokenizer.encode(PROBE);
    } catch (RuntimeException e) {
      tokenizer.close();
      throw new IllegalArgumentException("tokenizer file " + file + " is not a valid"
          + " HuggingFace tokenizer.json: it cannot encode the text '" + PROBE + "': " + e, e);
    }
    return tokenizer;
  }

  /** Words no vocabulary holds whole, in three scripts: each tokenizer model's unknown path. */
  private static final String PROBE = "Nos-probe \u2603 z\u00fcrich \u4e2d\u6587";

  /**
   * The {@code pad_id} of the top-level {@code padding} block, or 0 when the block is absent or
   * null. Read with a streaming parser that stops there: the block comes before the vocabulary
   * in files the tokenizers library writes.
   */
  static long padId(byte[] json, Path file) {
    try (JsonParser p = JSON.createParser(json)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IllegalArgumentException(
            "tokenizer file " + file + " is not a valid HuggingFace tokenizer.json: not an object");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken value = p.nextToken();
        if (!name.equals("padding")) {
          p.skipChildren();
          continue;
        }
        if (value == JsonToken.VALUE_NULL) {
          return 0;
        }
        if (value != JsonToken.START_OBJECT) {
          throw badPadding(file, "an object or null", p.getText());
        }
        long id = -1;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String field = p.currentName();
          JsonToken v = p.nextToken();
          if (field.equals("pad_id")) {
            if (v != JsonToken.VALUE_NUMBER_INT || p.getLongValue() < 0
                || p.getLongValue() > Integer.MAX_VALUE) {
              throw badPadding(file, "pad_id a non-negative int", p.getText());
            }
            id = p.getLongValue();
          } else {
            p.skipChildren();
          }
        }
        if (id < 0) {
          throw badPadding(file, "a pad_id", "a padding block without one");
        }
        return id;
      }
      return 0;
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "tokenizer file " + file + " is not a valid HuggingFace tokenizer.json: " + e, e);
    }
  }

  private static IllegalArgumentException badPadding(Path file, String expected, String given) {
    return new IllegalArgumentException("tokenizer file " + file + ": its padding block must have "
        + expected + " but has " + given);
  }

  /** The id padded positions get. */
  long padId() {
    return padId;
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
   * Encodes texts, padded with {@link #padId()} (mask 0) to {@code length} tokens, or to the
   * longest text when {@code length < 1}.
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
    if (padId != 0) {
      Arrays.fill(ids, padId);
    }
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
