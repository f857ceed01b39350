package ai.nos.hub;

import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/** A model that answers with fixed outputs and records the inputs of its last call. */
final class FakeModel implements Model {

  private final ModelSpec spec;
  private final Function<Map<String, Tensor>, Map<String, Tensor>> answer;
  final AtomicReference<Map<String, Tensor>> lastInputs = new AtomicReference<>();
  final AtomicBoolean closed = new AtomicBoolean();

  FakeModel(String id, Signature signature,
      Function<Map<String, Tensor>, Map<String, Tensor>> answer) {
    this.spec = ModelSpec.builder().id(id).artifact(Path.of("fake.pt")).signature(signature)
        .build();
    this.answer = answer;
  }

  @Override
  public ModelSpec spec() {
    return spec;
  }

  @Override
  public Device device() {
    return Device.cpu();
  }

  @Override
  public Map<String, Tensor> infer(Map<String, Tensor> inputs) {
    if (closed.get()) {
      throw new IllegalStateException("closed");
    }
    lastInputs.set(inputs);
    return answer.apply(inputs);
  }

  @Override
  public void close() {
    closed.set(true);
  }
}
