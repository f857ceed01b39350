package ai.nos.hub;

import ai.nos.Artifact;
import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.Nos;
import ai.nos.Tensor;
import ai.nos.TensorSpec;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Text embeddings over a loaded model: text in, one vector per text out.
 *
 * <pre>{@code
 * try (TextEmbedder embedder = TextEmbedder.load(
 *     Hub.shared(), "sentence-transformers/all-MiniLM-L6-v2", Downloader.builder().build())) {
 *   float[][] vectors = embedder.embed(List.of("a cat", "a dog"));
 * }
 * }</pre>
 *
 * <p>Texts are tokenized by the HuggingFace tokenizers library (through DJL's binding, whose
 * native library ships in its jar) reading the entry's {@code tokenizer.json} (the model's own
 * type: CLIP's byte-level BPE, BERT's WordPiece), truncated to the entry's
 * {@link TextPreprocessing#maxLength()} (or the model's fixed length, if shorter) with special
 * tokens, and padded with mask 0 and the pad id of the file's {@code padding} block (0 if it has
 * none) to the model's fixed length or the longest text of the call: for the hub's CLIP and
 * MiniLM entries, the ids and masks of {@code CLIPProcessor} and
 * {@code SentenceTransformer.encode}. The model gets {@code input_ids}, {@code attention_mask} and,
 * if its signature has it, {@code token_type_ids} (all zero for one text), as int64 or int32 as its
 * signature says. Its first output becomes one vector per text as
 * {@link TextPreprocessing#pooling()} says: {@code mean} of the token vectors
 * {@code [batch, tokens, dim]} where the mask is 1, the first ({@code cls}) token's vector, or
 * the output {@code [batch, dim]} itself ({@code none}); then L2 normalization if
 * {@link TextPreprocessing#normalize()}.
 *
 * <p><b>Thread-safety</b>: safe to call from any number of threads at once. {@link #close()} may
 * be called at any time: later calls fail, running ones finish, then the tokenizer is freed.
 */
public final class TextEmbedder implements AutoCloseable {

  private static final String NAME = "TextEmbedder";
  private static final List<String> INPUTS =
      List.of("input_ids", "attention_mask", "token_type_ids");

  private final TaskModel task;
  private final TextTokenizer tokenizer;
  private final TextPreprocessing preprocessing;
  private final List<TensorSpec> inputs;
  private final int length;

  private TextEmbedder(TaskModel task, TextTokenizer tokenizer) {
    this.task = task;
    this.tokenizer = tokenizer;
    this.preprocessing = task.entry().text().orElseThrow();
    this.inputs = task.model().spec().signature().inputs();
    this.length = padLength(task.model().spec().id(), inputs);
    TensorSpec output = task.model().spec().signature().outputs().get(0);
    int rank = preprocessing.pooling() == TextPreprocessing.Pooling.NONE ? 2 : 3;
    if (output.rank() != rank) {
      throw new IllegalArgumentException(NAME + " with pooling "
          + preprocessing.pooling().label() + " needs an output of rank " + rank
          + (rank == 3 ? " [batch, tokens, dim]" : " [batch, dim]") + " but '"
          + task.model().spec().id() + "' returns " + output);
    }
  }

  /**
   * Checks the input names and dtypes of model {@code id}; returns the fixed length texts are
   * padded to, or -1 (dynamic: padded to the longest text of the call).
   */
  static int padLength(String id, List<TensorSpec> inputs) {
    boolean ids = false;
    long length = TensorSpec.DYNAMIC;
    for (TensorSpec input : inputs) {
      if (!INPUTS.contains(input.name()) || input.rank() != 2
          || (input.dtype() != DType.INT64 && input.dtype() != DType.INT32)) {
        throw new IllegalArgumentException(NAME + " feeds int64 or int32 [batch, tokens] inputs "
            + "named " + INPUTS + " but '" + id + "' takes " + input);
      }
      ids |= input.name().equals("input_ids");
      if (input.dim(1) != TensorSpec.DYNAMIC) {
        length = input.dim(1);
      }
    }
    if (!ids) {
      throw new IllegalArgumentException(
          NAME + " needs a model with an input_ids input but '" + id + "' takes " + inputs);
    }
    return (int) length;
  }

  /**
   * Fetches a catalog model of task {@link Task#TEXT_EMBEDDING} and its tokenizer, and loads it
   * with {@link Nos#load}; closing the embedder closes the model and the tokenizer.
   *
   * @throws IllegalArgumentException if an argument is null, the id is unknown, or its entry has
   *     another task (checked before anything is downloaded)
   * @throws DownloadException if a file cannot be fetched or verified
   * @throws ai.nos.ModelLoadException if the model cannot be loaded
   */
  public static TextEmbedder load(Hub hub, String id, Downloader downloader) {
    return TaskModel.load(NAME, Task.TEXT_EMBEDDING, hub, id, downloader, Nos::load,
        TextEmbedder::owning);
  }

  /**
   * As {@link #load(Hub, String, Downloader)}, loading the model through {@code manager}.
   *
   * @throws IllegalArgumentException also if {@code manager} is null
   */
  public static TextEmbedder load(Hub hub, String id, Downloader downloader,
      ModelManager manager) {
    if (manager == null) {
      throw new IllegalArgumentException("manager must not be null");
    }
    return TaskModel.load(NAME, Task.TEXT_EMBEDDING, hub, id, downloader, manager::load,
        TextEmbedder::owning);
  }

  /**
   * An embedder owning {@code model}, with the entry's tokenizer file read once and checked
   * against the digest it was fetched by ({@link PinnedFiles}).
   */
  static TextEmbedder owning(Model model, CatalogEntry entry, Map<String, Artifact> files) {
    String name = entry.text().orElseThrow().tokenizer();
    Artifact file = files.get(name);
    Path path = PinnedFiles.path(file);
    byte[] json = PinnedFiles.check(entry.id(), name, file, TextTokenizer.read(path));
    return create(model, entry, path, json, true);
  }

  /**
   * An embedder over a model the caller loaded and keeps owning (closing the embedder leaves it
   * open), with the entry's tokenizer read from a local {@code tokenizer.json}.
   *
   * @throws IllegalArgumentException if an argument is null, the entry's task is not
   *     {@link Task#TEXT_EMBEDDING}, the model's inputs or output do not fit (see the class
   *     comment), or the file is not a valid tokenizer
   */
  public static TextEmbedder of(Model model, CatalogEntry entry, Path tokenizerJson) {
    TaskModel.check(NAME, model, entry, Task.TEXT_EMBEDDING);
    return create(model, entry, tokenizerJson, null, false);
  }

  /** {@code json}: the file's bytes, read and checked already; null to read the file. */
  private static TextEmbedder create(Model model, CatalogEntry entry, Path file, byte[] json,
      boolean ownsModel) {
    TextTokenizer tokenizer =
        tokenizer(entry, model.spec().id(), model.spec().signature().inputs(), file, json);
    try {
      List<AutoCloseable> resources = ownsModel ? List.of(tokenizer, model) : List.of(tokenizer);
      return new TextEmbedder(new TaskModel(NAME, model, entry, resources), tokenizer);
    } catch (RuntimeException e) {
      tokenizer.close();
      throw e;
    }
  }

  /**
   * The tokenizer of an embedder of {@code entry} over a model {@code id} with these inputs:
   * truncating to the entry's {@link TextPreprocessing#maxLength()}, or to the model's fixed
   * length if shorter. TokenizerParityTest goes through here too.
   */
  static TextTokenizer tokenizer(CatalogEntry entry, String id, List<TensorSpec> inputs,
      Path file) {
    return tokenizer(entry, id, inputs, file, null);
  }

  /** As above, from the file's bytes when {@code json} is not null. */
  private static TextTokenizer tokenizer(CatalogEntry entry, String id, List<TensorSpec> inputs,
      Path file, byte[] json) {
    TextPreprocessing text = entry.text().orElseThrow();
    int fixed = padLength(id, inputs);
    int max = fixed > 0 ? Math.min(fixed, text.maxLength()) : text.maxLength();
    return json == null ? TextTokenizer.open(file, max) : TextTokenizer.open(file, json, max);
  }

  /**
   * Returns the embedding of one text.
   *
   * @throws IllegalArgumentException if {@code text} is null
   * @throws IllegalStateException as {@link #embed(List)}
   * @throws ai.nos.InferenceException if the model fails
   */
  public float[] embed(String text) {
    if (text == null) {
      throw new IllegalArgumentException("text must not be null");
    }
    return embed(List.of(text))[0];
  }

  /**
   * Returns the embeddings of texts, in order, from one call of the model.
   *
   * @throws IllegalArgumentException if {@code texts} or a text is null
   * @throws IllegalStateException if the embedder is closed, or the model returned another shape
   *     than the batch it was fed or a NaN or infinite value
   * @throws ai.nos.InferenceException if the model fails
   */
  public float[][] embed(List<String> texts) {
    if (texts == null) {
      throw new IllegalArgumentException("texts must not be null");
    }
    for (int i = 0; i < texts.size(); i++) {
      if (texts.get(i) == null) {
        throw new IllegalArgumentException("texts[" + i + "] must not be null");
      }
    }
    List<String> copy = List.copyOf(texts);
    // An empty batch goes through call() too, so a closed embedder refuses it as it refuses any.
    return task.call(() -> copy.isEmpty() ? new float[0][] : run(tokenizer.encode(copy, length)));
  }

  private float[][] run(TextTokenizer.Batch batch) {
    Map<String, Tensor> feed = new LinkedHashMap<>();
    for (TensorSpec input : inputs) {
      long[] values = switch (input.name()) {
        case "input_ids" -> batch.ids();
        case "attention_mask" -> batch.mask();
        default -> batch.typeIds();
      };
      feed.put(input.name(), tensor(values, input.dtype(), batch.size(), batch.length()));
    }
    Tensor out = ImageClassifier.first(task.model().infer(feed));
    String id = task.model().spec().id();
    boolean pooled = preprocessing.pooling() != TextPreprocessing.Pooling.NONE;
    // A dynamic signature lets a model answer fewer rows or tokens than it was fed: pooling
    // would read past them (zeros for the missing texts) or the wrong tokens' mask.
    if (out.rank() != (pooled ? 3 : 2) || out.dim(0) != batch.size()
        || (pooled && out.dim(1) != batch.length())) {
      throw new IllegalStateException("model '" + id + "' returned an output of shape "
          + Arrays.toString(out.shape()) + " for " + batch.size() + " texts of "
          + batch.length() + " tokens; pooling " + preprocessing.pooling().label() + " needs ["
          + batch.size() + (pooled ? ", " + batch.length() : "") + ", dim]");
    }
    float[] data = out.toFloatArray();
    float[][] vectors = new float[batch.size()][];
    int dim = (int) out.dim(out.rank() - 1);
    for (int i = 0; i < vectors.length; i++) {
      vectors[i] = switch (preprocessing.pooling()) {
        case MEAN -> Vectors.meanPool(data, batch.mask(), i, (int) out.dim(1), dim);
        case CLS -> Vectors.firstToken(data, i, (int) out.dim(1), dim);
        case NONE -> Arrays.copyOfRange(data, i * dim, (i + 1) * dim);
      };
      Vectors.checkFinite(vectors[i], id, NAME);
      if (preprocessing.normalize()) {
        Vectors.l2Normalize(vectors[i]);
      }
    }
    return vectors;
  }

  private static Tensor tensor(long[] values, DType dtype, int batch, int length) {
    if (dtype == DType.INT64) {
      return Tensor.of(values, batch, length);
    }
    int[] ints = new int[values.length];
    for (int i = 0; i < ints.length; i++) {
      ints[i] = (int) values[i];
    }
    return Tensor.of(ints, batch, length);
  }

  /** The catalog entry whose settings this embedder applies. */
  public CatalogEntry entry() {
    return task.entry();
  }

  /**
   * Refuses new calls; when running calls end, frees the tokenizer and, if this embedder loaded
   * the model, closes it. Idempotent.
   */
  @Override
  public void close() {
    task.close();
  }
}
