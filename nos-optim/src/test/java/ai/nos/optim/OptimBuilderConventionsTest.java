package ai.nos.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.nos.testing.BuilderCases;
import ai.nos.testing.BuilderCases.Null;
import ai.nos.testing.BuilderCases.Twice;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The builder conventions of docs/api-conventions.md on nos-optim's builders: {@code builder()}
 * (ArtifactCache's was {@code newBuilder()}), a setting made twice keeps the last value (a
 * {@code toBuilder()} copy stays settable), a null argument is a {@link NullPointerException}
 * naming the setting.
 */
final class OptimBuilderConventionsTest {
  @TempDir static Path dir;

  static Stream<Twice> settingsMadeTwice() {
    return Stream.of(
        new Twice("CacheKey.deviceArch",
            () -> CacheKeyTest.base().deviceArch("sm_80").deviceArch("sm_90a").build()
                .deviceArch(), "sm_90a"),
        new Twice("CacheKey.toBuilder().option",
            () -> CacheKeyTest.base().build().toBuilder().option("precision", "bf16").build()
                .options().get("precision"), "bf16"),
        new Twice("Calibration.tolerance", () -> Calibration.builder(CalibrationTest.digits(1, 2,
            0)).tolerance(0.2).tolerance(0.1).build().tolerance(), 0.1),
        new Twice("Calibration.toBuilder().batches", () -> Calibration.of(
            CalibrationTest.digits(1, 2, 0)).toBuilder().batches(CalibrationTest.digits(3, 4, 0))
            .build().batches(), CalibrationTest.digits(3, 4, 0)),
        new Twice("ArtifactCache.directory", () -> {
          Path last = dir.resolve("b");
          return ArtifactCache.builder().directory(dir.resolve("a")).directory(last).build()
              .directory().endsWith(last.getFileName());
        }, true));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("settingsMadeTwice")
  void settingMadeTwice_keepsTheLastValue(Twice c) {
    c.check();
  }

  static List<Null> nullArguments() {
    return List.of(
        new Null("directory must not be null", () -> ArtifactCache.builder().directory(null)),
        new Null("clock must not be null", () -> ArtifactCache.builder().clock((Clock) null)),
        new Null("lockTimeout must not be null",
            () -> ArtifactCache.builder().lockTimeout((Duration) null)),
        new Null("sourceSha256 must not be null", () -> CacheKey.builder().sourceSha256(null)),
        new Null("sourceFile must not be null", () -> CacheKey.builder().sourceFile(null)),
        new Null("deviceArch must not be null", () -> CacheKey.builder().deviceArch(null)),
        new Null("option name must not be null", () -> CacheKey.builder().option(null, "x")),
        new Null("version 'cuda' must not have a null value",
            () -> CacheKey.builder().version("cuda", null)),
        new Null("options must not be null",
            () -> CacheKey.builder().options((Map<String, String>) null)),
        new Null("cache must not be null", () -> Optimizer.builder().cache(null)),
        new Null("batches must not be null", () -> Calibration.builder(null)),
        new Null("batches must not be null",
            () -> Calibration.builder(CalibrationTest.digits(1, 2, 0)).batches(null)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("nullArguments")
  void nullArgument_isANullPointerExceptionNamingIt(Null c) {
    c.check();
  }

  /** Every public setter of every nos-optim builder refuses a null: a NullPointerException. */
  @Test
  void everySetter_null_isANullPointerException() throws Exception {
    List<String> wrong = new ArrayList<>();
    wrong.addAll(BuilderCases.nullsNotRefused(ArtifactCache::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(CacheKey::builder, Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(
        () -> Calibration.builder(CalibrationTest.digits(1, 2, 0)), Set.of()));
    wrong.addAll(BuilderCases.nullsNotRefused(Optimizer::builder, Set.of()));
    assertEquals(List.of(), wrong);
  }
}
