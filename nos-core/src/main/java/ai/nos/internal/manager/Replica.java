package ai.nos.internal.manager;

import ai.nos.Tensor;
import java.util.Map;

/** One loaded copy of a model on one device, as a {@link Backend} made it. */
public interface Replica {

  /** Runs validated inputs; may be called from many threads at once. */
  Map<String, Tensor> infer(Map<String, Tensor> inputs);

  /** Device bytes this copy holds: its weights plus its peak working memory when measured. */
  long footprintBytes();

  /** Frees the copy. Called once, when no call is running. */
  void close();
}
