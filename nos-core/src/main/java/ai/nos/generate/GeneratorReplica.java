package ai.nos.generate;

import ai.nos.Tensor;
import ai.nos.internal.generate.GenerationEngine;
import ai.nos.internal.manager.Replica;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A generator's engine as a ModelManager's copy ({@link BookedEngine}): its footprint is the
 * decoder's weights plus its key/value cache, and freeing the copy closes the engine (its
 * scheduler frees the cache and module). It serves no tensor calls.
 */
final class GeneratorReplica implements Replica {
  final GenerationEngine engine;
  private final String id;
  private final long bytes;
  private final Consumer<GeneratorReplica> onClose;

  GeneratorReplica(String id, GenerationEngine engine, long bytes,
      Consumer<GeneratorReplica> onClose) {
    this.id = id;
    this.engine = engine;
    this.bytes = bytes;
    this.onClose = onClose;
  }

  @Override
  public Map<String, Tensor> infer(Map<String, Tensor> inputs) {
    throw new UnsupportedOperationException("generator '" + id + "' takes token ids through"
        + " TokenGenerator, not tensor calls");
  }

  @Override
  public long footprintBytes() {
    return bytes;
  }

  /** Closes the engine: fails what it still holds and waits for its scheduler to free it. */
  @Override
  public void close() {
    engine.close();
    onClose.accept(this);
  }
}
