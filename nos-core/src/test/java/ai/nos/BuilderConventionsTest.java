package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.generate.GenerationConfig;
import ai.nos.generate.TokenGenerator;
import ai.nos.testing.BuilderCases;
import ai.nos.testing.BuilderCases.Null;
import ai.nos.testing.BuilderCases.Twice;
import ai.nos.testing.TinyLlama;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The builder conventions of docs/api-conventions.md, on every public builder of nos-core: the
 * entry point is {@code builder()}, a setting made twice keeps the last value (so a {@code
 * toBuilder()} copy stays settable), and a null argument is a {@link NullPointerException} whose
 * message names the setting. nos-hub and nos-optim test their own builders the same way.
 */
final class BuilderConventionsTest {
  private static final Signature SIG = Signature.builder()
      .input("x", DType.FLOAT32, -1, 4).output("y", DType.FLOAT32, -1, 2).build();

  private static ModelSpec.Builder spec() {
    return ModelSpec.builder().id("conventions").artifact("m.pt").signature(SIG);
  }

  static Stream<Twice> settingsMadeTwice() {
    return Stream.of(
        new Twice("ModelSpec.precision",
            () -> spec().precision(Precision.FP16).precision(Precision.BF16).build().precision(),
            Precision.BF16),
        new Twice("ModelSpec.toBuilder().precision",
            () -> spec().precision(Precision.FP16).build().toBuilder().precision(Precision.FP32)
                .build().precision(),
            Precision.FP32),
        new Twice("Batching.maxBatchSize",
            () -> Batching.builder().maxBatchSize(4).maxBatchSize(8).build().maxBatchSize(), 8),
        new Twice("ImageInput.padValue",
            () -> ImageInput.builder().size(224).padValue(1).padValue(2).build().padValue(), 2),
        new Twice("ImageInput.toBuilder().size",
            () -> ImageInput.resizeTo(224).build().toBuilder().size(256).build().size(), 256),
        new Twice("GenerationConfig.topK",
            () -> GenerationConfig.builder().topK(5).topK(7).build().topK(), 7),
        new Twice("NosRuntime.cacheRoot",
            () -> NosRuntime.builder().cacheRoot(Path.of("/a")).cacheRoot(Path.of("/b")).build()
                .cacheRoot(),
            Path.of("/b")),
        new Twice("ModelManager.memoryFraction", BuilderConventionsTest::cpuBudgetAtLastFraction,
            true),
        new Twice("TokenGenerator.maxSequences", () -> {
          try (TokenGenerator g = TokenGenerator.builder(TinyLlama.MODEL).device(Device.cpu())
              .maxSequences(3).maxSequences(1).build()) {
            return g.maxSequences();
          }
        }, 1));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("settingsMadeTwice")
  void settingMadeTwice_keepsTheLastValue(Twice c) {
    c.check();
  }

  /** The CPU's budget is the last of two fractions of its memory (0.9 by default). */
  private static Object cpuBudgetAtLastFraction() {
    try (ModelManager m = ModelManager.builder().devices(Device.cpu()).noFootprintCatalog()
        .memoryFraction(0.5).memoryFraction(0.25).build()) {
      DeviceStats cpu = m.stats().get(0);
      return cpu.budgetBytes() == (long) (cpu.totalBytes() * 0.25);
    }
  }

  static List<Null> nullArguments() {
    return List.of(
        new Null("id must not be null", () -> ModelSpec.builder().id(null)),
        new Null("precision must not be null", () -> spec().precision(null)),
        new Null("artifact must not be null", () -> spec().artifact((Path) null)),
        new Null("device must not be null", () -> spec().device((String) null)),
        new Null("optimize steps must not be null",
            () -> spec().optimize((Optimization[]) null)),
        new Null("imageInput must not be null", () -> spec().imageInput("x", null)),
        new Null("batching.maxQueueDelay must not be null",
            () -> Batching.builder().maxQueueDelay(null)),
        new Null("batching.padding[0] must not be null", () -> Batching.builder().padding(null)),
        new Null("signature.inputs[0] must not be null",
            () -> Signature.builder().input((TensorSpec) null)),
        new Null("signature.inputs[0].name must not be null",
            () -> Signature.builder().input(null, DType.FLOAT32, -1)),
        new Null("signature.outputs[0].dtype must not be null in tensor 'y'",
            () -> Signature.builder().output("y", null, -1)),
        new Null("signature.inputs[1].shape must not be null in tensor 'z'",
            () -> Signature.builder().input("x", DType.FLOAT32, -1).input("z", DType.FLOAT32,
                (long[]) null)),
        new Null("ImageInput.interpolation must not be null",
            () -> ImageInput.builder().interpolation(null)),
        new Null("ImageInput.normalize mean must not be null",
            () -> ImageInput.builder().normalize(null, new float[3])),
        new Null("timeout must not be null", () -> GenerationConfig.builder().timeout(null)),
        new Null("stopStrings must not be null",
            () -> GenerationConfig.builder().stopStrings((String[]) null)),
        new Null("model path must not be null",
            () -> TokenGenerator.builder((java.nio.file.Path) null)),
        new Null("model must not be null", () -> TokenGenerator.builder((Artifact) null)),
        new Null("encoder must not be null",
            () -> TokenGenerator.builder(TinyLlama.MODEL).encoder((Artifact) null)),
        new Null("executor must not be null",
            () -> TokenGenerator.builder(TinyLlama.MODEL).executor(null)),
        new Null("manager must not be null",
            () -> TokenGenerator.builder(TinyLlama.MODEL).manager(null)),
        new Null("cacheRoot must not be null", () -> NosRuntime.builder().cacheRoot(null)),
        new Null("loadTimeout must not be null", () -> ModelManager.builder().loadTimeout(null)),
        new Null("devices[1] must not be null",
            () -> ModelManager.builder().devices(Device.cpu(), null)),
        new Null("memoryBudget device must not be null",
            () -> ModelManager.builder().memoryBudget(null, 1)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("nullArguments")
  void nullArgument_isANullPointerExceptionNamingIt(Null c) {
    c.check();
  }

  /**
   * Every public setter of every nos-core builder, not only those listed above, refuses a null
   * with a NullPointerException; ModelSpec's {@code scaling} is the documented exception.
   */
  @Test
  void everySetter_null_isANullPointerException() throws Exception {
    List<String> wrong = new ArrayList<>();
    wrong.addAll(BuilderCases.nullsNotRefused(ModelSpec::builder, Set.of("scaling")));
    wrong.addAll(BuilderCases.nullsNotRefused(Batching::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(Signature::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(ImageInput::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(ModelManager::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(NosRuntime::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(GenerationConfig::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(() -> TokenGenerator.builder(TinyLlama.MODEL),
        Set.of()));
    assertEquals(List.of(), wrong);
  }

  /** The one documented exception: an optional setting's null is its "none", to clear a copy. */
  @Test
  void optionalSetting_nullClearsIt() {
    ModelSpec scaled = spec().scaling(ScalingPolicy.queueDepth(1, 2, 4)).build();
    assertTrue(scaled.scaling().isPresent());
    assertTrue(scaled.toBuilder().scaling(null).build().scaling().isEmpty());
  }

  @Test
  void imageInput_builderWithoutSize_failsNamingIt() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ImageInput.builder().build());
    assertEquals("ImageInput.size is required (1 to " + ImageInput.MAX_SIZE + ") but was not set",
        e.getMessage());
    assertEquals(ImageInput.resizeTo(224).build(), ImageInput.builder().size(224).build());
  }

  @Test
  void lastWins_stillValidatesEachValue() {
    // Last-wins does not relax validation: each value is checked as it is set.
    assertThrows(IllegalArgumentException.class,
        () -> ModelManager.builder().loadTimeout(Duration.ofSeconds(1)).loadTimeout(Duration.ZERO));
  }
}
