package ai.nos;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The host tier with libtorch on the CPU: swaps come back from it, and trust still applies. */
final class HostTierCpuTest {
  static final Map<String, Tensor> IMAGE = Map.of("image",
      Tensor.of(new float[64], 1, 1, 8, 8));

  @Test
  void swaps_comeBackFromTheTier_untilTheFileChanges(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("digits.pt");
    Files.copy(Fixtures.modelsDir().resolve("digits/digits.pt"), file);
    ModelSpec a = Fixtures.digitsOn("cpu").toBuilder().id("a").artifact(file).build();
    ModelSpec b = Fixtures.digitsOn("cpu").toBuilder().id("b").artifact(file).build();
    long one = 4 * (16 * 9 + 16 + 32 * 16 * 9 + 32 + 512 * 10 + 10);
    try (ModelManager m = ModelManager.builder().devices(Device.cpu())
        .memoryBudget(Device.cpu(), one + one / 2).noFootprintCatalog()
        .hostMemoryBytes(10 * one).build();
        Model ma = m.load(a); Model mb = m.load(b)) {
      assertEquals(java.util.List.of("a"), m.hostTier().models());
      float[] ref = mb.infer(IMAGE).get("logits").toFloatArray();
      for (int i = 0; i < 6; i++) {
        assertArrayEquals(ref, (i % 2 == 0 ? ma : mb).infer(IMAGE).get("logits").toFloatArray());
      }
      assertEquals(6, m.hostTier().unparks());
      assertEquals(0, m.hostTier().dropped());
      // Same bytes, another version of the file: the parked copy is not trusted.
      Files.setLastModifiedTime(file, FileTime.fromMillis(Files.getLastModifiedTime(file)
          .toMillis() - 60_000));
      assertArrayEquals(ref, ma.infer(IMAGE).get("logits").toFloatArray());
      assertEquals(6, m.hostTier().unparks());
      assertEquals(1, m.hostTier().dropped());
      long loadsBefore = m.models().stream().filter(x -> x.id().equals("a")).findFirst()
          .orElseThrow().loads();
      assertEquals(5, loadsBefore, "a: loaded, 3 unparks, 1 load from the changed file");
    }
  }
}
