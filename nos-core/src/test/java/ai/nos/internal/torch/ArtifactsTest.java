package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Artifact;
import ai.nos.Fixtures;
import ai.nos.ModelLoadException;
import ai.nos.ModelSpec;
import ai.nos.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a load opens is what it verified: a file swapped after its sha256 was checked never
 * reaches libtorch, and a thread's interrupt flag is not taken for a broken file.
 */
@Timeout(120)
final class ArtifactsTest {
  @TempDir Path dir;
  private String aotiDirBefore;
  private String tmpBefore;
  private Path tmp;

  /** Packages extract, and verified copies are made, under this test's folder. */
  @BeforeEach
  void extractUnderTheTestsFolder() throws IOException {
    aotiDirBefore = System.getProperty("nos.aoti.dir");
    System.setProperty("nos.aoti.dir", dir.resolve("cache").toString());
    tmpBefore = System.getProperty("java.io.tmpdir");
    tmp = Files.createDirectory(dir.resolve("tmp"));
    System.setProperty("java.io.tmpdir", tmp.toString());
  }

  @AfterEach
  void restore() throws IOException {
    System.setProperty("java.io.tmpdir", tmpBefore);
    try (var left = Files.list(tmp)) {
      assertEquals(List.of(), left.toList(), "every verified copy was deleted");
    }
    Artifacts.afterVerification = null;
    Artifacts.beforeRead = null;
    Thread.interrupted();
    if (aotiDirBefore == null) {
      System.clearProperty("nos.aoti.dir");
    } else {
      System.setProperty("nos.aoti.dir", aotiDirBefore);
    }
  }

  /**
   * The file is overwritten in place (same inode) with another valid TorchScript model right
   * after its sha256 matched: the model loaded must still be the one verified, and the next load
   * must refuse the file.
   */
  @Test
  void torchScriptSwappedAfterVerification_theVerifiedBytesAreLoaded() throws IOException {
    Path file = Files.copy(Fixtures.modelsDir().resolve("digits/digits.pt"),
        dir.resolve("digits.pt"));
    ModelSpec spec = Fixtures.digitsOn("cpu").toBuilder()
        .artifact(Artifact.of(file).withSha256(sha256(file))).build();
    Tensor input = Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 4);
    float[] expected = logits(spec, input);
    byte[] other = Files.readAllBytes(Fixtures.fixture("identity.pt"));
    swapAfterVerification(file, other);
    assertArrayEquals(expected, logits(spec, input), "the verified model, not the swapped one");
    Artifacts.afterVerification = null;
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> TorchModel.load(spec));
    assertTrue(e.getMessage().contains("but the spec expects"), e.getMessage());
  }

  /** The same for an AOTInductor package, whose extraction reads the file a second time. */
  @Test
  void packageSwappedAfterVerification_theVerifiedPackageIsExtracted() throws IOException {
    Path file = Files.copy(Fixtures.modelsDir().resolve("aoti/digits-cpu-portable.pt2"),
        dir.resolve("digits.pt2"));
    ModelSpec spec = Fixtures.digitsOn("cpu").toBuilder().id("digits-aoti")
        .artifact(Artifact.of(file).withSha256(sha256(file))).build();
    Tensor input = Fixtures.digitBatch(Fixtures.heldOutDigits(), 0, 4);
    float[] expected = logits(Fixtures.digitsOn("cpu"), input);
    byte[] garbage = new byte[(int) Files.size(file)];
    garbage[0] = 'P';
    garbage[1] = 'K';
    swapAfterVerification(file, garbage);
    float[] got = logits(spec, input);
    assertTrue(Fixtures.relativeError(got, expected) <= 1e-4, "the verified package ran");
  }

  /**
   * With the caller's interrupt flag set, a load either works or says it was interrupted; it
   * never blames the file, and the flag is still set afterwards.
   */
  @Test
  void interruptFlagSet_loadsOrSaysInterrupted_andTheFlagStays() throws IOException {
    Path pt = Fixtures.modelsDir().resolve("digits/digits.pt");
    Path pt2 = Fixtures.modelsDir().resolve("aoti/digits-cpu-portable.pt2");
    for (ModelSpec spec : List.of(
        Fixtures.digitsOn("cpu").toBuilder()
            .artifact(Artifact.of(pt).withSha256(sha256(pt))).build(),
        Fixtures.digitsOn("cpu").toBuilder().id("digits-aoti")
            .artifact(Artifact.of(pt2).withSha256(sha256(pt2))).build())) {
      Thread.currentThread().interrupt();
      try (TorchModel model = TorchModel.load(spec)) {
        assertTrue(model.infer(java.util.Map.of("image", Tensor.of(new float[64], 1, 1, 8, 8)))
            .containsKey("logits"), spec.id());
      } catch (ModelLoadException e) {
        assertTrue(e.getMessage().contains("interrupted"), spec.id() + ": " + e.getMessage());
      } finally {
        assertTrue(Thread.interrupted(), spec.id() + ": the interrupt flag was kept");
      }
    }
  }

  /**
   * The file is swapped, after its real path was checked and before it is read, for a link to a
   * larger file (standing for /dev/zero or a FIFO's endless writer, which would fill the
   * temporary folder): the load reads no more than the size it checked and fails naming the
   * file, even with no sha256 pinned, and keeps no copy.
   */
  @Test
  void swappedForSomethingLargerBeforeRead_refusedAtTheCheckedSize() throws IOException {
    Path file = Files.copy(Fixtures.modelsDir().resolve("digits/digits.pt"),
        dir.resolve("digits.pt"));
    ModelSpec spec = Fixtures.digitsOn("cpu").toBuilder().artifact(Artifact.of(file)).build();
    Artifacts.beforeRead = linkToSomethingLarger(file);
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> TorchModel.load(spec));
    assertTrue(e.getMessage().contains("changed while it was read")
        && e.getMessage().contains(file.toString()), e.getMessage());
  }

  /**
   * The manager's early check (the sha256 for the spec's pin and the footprint key, before
   * anything is booked) reads at most the size it saw too: a file swapped for a link to
   * something endless (here 64 MiB more) is refused, not read on and on.
   */
  @Test
  void managersEarlyCheck_fileSwappedForSomethingLarger_refusedAtTheCheckedSize()
      throws IOException {
    Path file = Files.copy(Fixtures.modelsDir().resolve("digits/digits.pt"),
        dir.resolve("digits.pt"));
    ModelSpec spec = Fixtures.digitsOn("cpu").toBuilder().id("early")
        .artifact(Artifact.of(file)).build();
    java.util.concurrent.atomic.AtomicInteger reads =
        new java.util.concurrent.atomic.AtomicInteger();
    Consumer<Path> swap = linkToSomethingLarger(file);
    Artifacts.beforeRead = checked -> {
      if (reads.getAndIncrement() == 0) {
        swap.accept(checked);
      }
    };
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> new TorchBackend().prepare(spec));
    assertTrue(e.getMessage().contains("changed while it was read")
        && e.getMessage().contains(file.toString()), e.getMessage());
    assertEquals(1, reads.get());
  }

  /**
   * Swaps the file it is given for a link to a file 64 MiB larger than {@code file} (standing
   * for /dev/zero or a FIFO's endless writer).
   */
  private Consumer<Path> linkToSomethingLarger(Path file) throws IOException {
    Path larger = dir.resolve("larger");
    try (var f = new java.io.RandomAccessFile(larger.toFile(), "rw")) {
      f.setLength(Files.size(file) + (64 << 20));
    }
    return checked -> {
      try {
        Files.delete(checked);
        Files.createSymbolicLink(checked, larger);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    };
  }

  private static String sha256(Path file) throws IOException {
    return Artifacts.sha256("t", file, Files.size(file));
  }

  private void swapAfterVerification(Path file, byte[] replacement) {
    Consumer<Path> swap = verified -> {
      try {
        Files.write(file, replacement);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    };
    Artifacts.afterVerification = swap;
  }

  private static float[] logits(ModelSpec spec, Tensor input) {
    try (TorchModel model = TorchModel.load(spec)) {
      return model.infer(java.util.Map.of("image", input)).get("logits").toFloatArray();
    }
  }
}
