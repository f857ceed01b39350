package ai.nos.internal.manager;

import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Priority;
import ai.nos.Tensor;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A caller's handle on a model in a {@link ManagerCore}. Calls go to the manager, which may have
 * evicted the model and loads it again; closing the handle drops it, and the manager unloads the
 * model when its last handle is closed. Thread-safe.
 */
public final class ManagedModel implements Model {
  private final ManagerCore core;
  private final Entry entry;
  private final AtomicBoolean closed = new AtomicBoolean();

  public ManagedModel(ManagerCore core, Entry entry) {
    this.core = core;
    this.entry = entry;
  }

  @Override
  public ModelSpec spec() {
    return entry.spec;
  }

  @Override
  public Device device() {
    return core.deviceOf(entry);
  }

  @Override
  public Map<String, Tensor> infer(Map<String, Tensor> inputs) {
    if (closed.get()) {
      throw new IllegalStateException("model '" + entry.spec.id() + "' is closed");
    }
    return core.infer(entry, inputs);
  }

  @Override
  public CompletableFuture<Map<String, Tensor>> inferAsync(Map<String, Tensor> inputs,
      Priority priority, Duration timeout) {
    if (closed.get()) {
      throw new IllegalStateException("model '" + entry.spec.id() + "' is closed");
    }
    return core.inferAsync(entry, inputs, priority, timeout);
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      core.release(entry);
    }
  }

  @Override
  public String toString() {
    return "ManagedModel{" + core.info(entry) + "}";
  }
}
