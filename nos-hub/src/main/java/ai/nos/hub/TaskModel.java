package ai.nos.hub;

import ai.nos.Artifact;
import ai.nos.DType;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.TensorSpec;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * What the task facades share: the model and its catalog entry, the check that the entry's task
 * is the facade's, loading through a Hub, and a lifecycle that is safe under traffic.
 *
 * Lifecycle: a facade holds native resources of its own (the text tokenizer) besides the model,
 * and a tokenizer freed while a call uses it would crash the JVM. So resources are counted: the
 * facade holds one lease and every call one more; close() gives back the facade's lease and the
 * last lease given back frees them. A call that starts after close() fails at once. The model is
 * among the resources only when the facade loaded it; one passed in belongs to the caller.
 */
final class TaskModel {

  private static final Logger LOG = LoggerFactory.getLogger(TaskModel.class);

  private final String facade;
  private final Model model;
  private final CatalogEntry entry;
  private final List<AutoCloseable> resources;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicInteger leases = new AtomicInteger(1);

  /**
   * @param facade the facade's class name, for messages
   * @param resources freed, in order, when the facade is closed and its last call has ended
   */
  TaskModel(String facade, Model model, CatalogEntry entry, List<AutoCloseable> resources) {
    this.facade = facade;
    this.model = model;
    this.entry = entry;
    this.resources = List.copyOf(resources);
  }

  Model model() {
    return model;
  }

  CatalogEntry entry() {
    return entry;
  }

  /** Checks that the arguments of a facade's {@code of(model, entry)} are there and fit. */
  static void check(String facade, Model model, CatalogEntry entry, Task task) {
    if (model == null) {
      throw new IllegalArgumentException("model must not be null");
    }
    if (entry == null) {
      throw new IllegalArgumentException("entry must not be null");
    }
    checkTask(facade, entry, task);
  }

  /** Checks that {@code entry} has {@code task}; loads by hub id check it before fetching. */
  static void checkTask(String facade, CatalogEntry entry, Task task) {
    if (entry.task().orElse(null) != task) {
      throw new IllegalArgumentException(facade + " needs an entry of task " + task
          + " but '" + entry.id() + "' has " + entry.task().map(t -> "task " + t)
          .orElse("no task"));
    }
  }

  /**
   * A generator's entry, its fetched files by artifact name (each pinned by the digest it was
   * verified against), and its builder to build.
   */
  record Configured<B>(CatalogEntry entry, Map<String, Artifact> files, B builder) {}

  /**
   * The first half of a generator's load by hub id: checks the arguments and the entry's task
   * (before anything is downloaded), fetches the entry's files, makes the builder of the entry
   * and files (each pinned by the digest it was verified against, which the generator checks on
   * every load) with {@code builder} and lets {@code settings} change it.
   *
   * @throws IllegalArgumentException if {@code hub} or {@code settings} is null or settings
   *     returns null, the id is unknown or its entry has another task
   */
  static <B> Configured<B> configure(String facade, Task task, Hub hub, String id,
      Downloader downloader, UnaryOperator<B> settings,
      BiFunction<CatalogEntry, Map<String, Artifact>, B> builder) {
    if (hub == null || settings == null) {
      throw new IllegalArgumentException("hub and settings must not be null (hub " + hub
          + ", settings " + settings + ")");
    }
    CatalogEntry entry = hub.entry(id);
    checkTask(facade, entry, task);
    Map<String, Artifact> pinned = hub.fetchPinned(id, downloader);
    B configured = settings.apply(builder.apply(entry, pinned));
    if (configured == null) {
      throw new IllegalArgumentException("settings returned null for '" + id + "'");
    }
    return new Configured<>(entry, pinned, configured);
  }

  /**
   * Why a generator's model does not fit its entry: the vocabulary the entry's logits name (the
   * last dimension of its first output) is not the model's {@code vocab}; null when they agree or
   * the entry leaves it dynamic.
   */
  static String vocabularyMismatch(CatalogEntry entry, long vocab) {
    TensorSpec logits = entry.signature().outputs().get(0);
    long named = logits.dim(logits.rank() - 1);
    return named == TensorSpec.DYNAMIC || named == vocab ? null : "catalog entry '" + entry.id()
        + "' says its logits are " + logits + " but the model's vocabulary holds " + vocab
        + " tokens";
  }

  /**
   * Loads a facade's model through a hub: checks the entry's task first, then fetches the files
   * and loads the model, and closes the model if the facade cannot be built.
   */
  static <T> T load(String facade, Task task, Hub hub, String id, Downloader downloader,
      Function<ModelSpec, Model> loader, Loaded<T> build) {
    if (hub == null) {
      throw new IllegalArgumentException("hub must not be null");
    }
    if (loader == null) {
      throw new IllegalArgumentException("loader must not be null");
    }
    CatalogEntry entry = hub.entry(id);
    checkTask(facade, entry, task);
    Hub.Resolved resolved = hub.resolve(entry, downloader);
    // Image models pre-process on their device: the facade sends decoded pixels.
    ModelSpec spec = entry.image().map(p -> ImageTensors.onDevice(resolved.spec(), p))
        .orElse(resolved.spec());
    Model model = loader.apply(spec);
    try {
      return build.build(model, entry, resolved.files());
    } catch (RuntimeException | Error e) {
      model.close();
      throw e;
    }
  }

  /**
   * Builds a facade that owns {@code model}, from the entry and its local files, each pinned by
   * the digest it was verified against: a small file the facade reads is checked against it
   * ({@link PinnedFiles}).
   */
  @FunctionalInterface
  interface Loaded<T> {
    T build(Model model, CatalogEntry entry, Map<String, Artifact> files);
  }

  /**
   * The single input of an image model: float32 (pre-processed in Java), or pixels the model
   * pre-processes on its device ({@link ModelSpec#imageInputs()}).
   */
  static TensorSpec imageInput(String facade, Model model) {
    List<TensorSpec> inputs = model.spec().signature().inputs();
    if (inputs.size() != 1 || (inputs.get(0).dtype() != DType.FLOAT32
        && !model.spec().imageInputs().containsKey(inputs.get(0).name()))) {
      throw new IllegalArgumentException(facade + " needs a model with one float32 image input "
          + "or one image input pre-processed on its device, but '" + model.spec().id()
          + "' takes " + inputs);
    }
    return inputs.get(0);
  }

  /** Runs {@code work} under a lease, so that close() cannot free what it uses. */
  <T> T call(Supplier<T> work) {
    acquire();
    try {
      return work.get();
    } finally {
      release();
    }
  }

  private void acquire() {
    while (true) {
      int n = leases.get();
      if (n == 0 || closed.get()) {
        throw new IllegalStateException(facade + " for '" + entry.id() + "' is closed");
      }
      if (leases.compareAndSet(n, n + 1)) {
        return;
      }
    }
  }

  private void release() {
    if (leases.decrementAndGet() == 0) {
      for (AutoCloseable resource : resources) {
        try {
          resource.close();
        } catch (Exception e) {
          LOG.warn("{} for '{}': closing {} failed", facade, entry.id(), resource, e);
        }
      }
    }
  }

  /** Idempotent; resources are freed when the last running call ends. */
  void close() {
    if (!closed.getAndSet(true)) {
      release();
    }
  }
}
