package ai.nos.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.nos.DType;
import ai.nos.Fixtures;
import ai.nos.ModelSpec;
import ai.nos.Signature;
import ai.nos.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The per-call byte limit, checked in Java alone: nothing here reaches libtorch, so a regression
 * fails these tests instead of running a call that the operating system would kill the JVM for.
 */
final class InputsTest {

  /** The digits spec with its per-call limit at {@code limit} bytes. */
  private static ModelSpec digits(long limit) {
    return Fixtures.digits().toBuilder().maxCallBytes(limit).build();
  }

  private static Map<String, Tensor> rows(int n) {
    return Map.of("image", Tensor.zeros(DType.FLOAT32, n, 1, 8, 8));
  }

  @Test
  void ordered_atTheLimit_passes_oneByteOver_isRefusedNamingInputBytesLimitAndFix() {
    // 4 rows: 4 * 64 floats in (1024 bytes), 4 * 10 floats out (160 bytes).
    assertEquals(1, Inputs.ordered(digits(1184), rows(4)).size());
    var e = assertThrows(IllegalArgumentException.class,
        () -> Inputs.ordered(digits(1183), rows(4)));
    assertEquals("call of model 'digits' is too big: input 'image' float32[4, 1, 8, 8] takes 1024"
        + " bytes; with its other inputs and the outputs' estimated 160 bytes the call needs 1184"
        + " bytes, over the limit of 1183 bytes per call (the spec's maxCallBytes; a model's"
        + " working memory within a call is many times its input). Split it into calls of at most"
        + " 3 rows, or raise the limit with ModelSpec.Builder.maxCallBytes(long) or the spec's"
        + " JSON field \"maxCallBytes\"", e.getMessage());
    assertEquals(1, Inputs.ordered(digits(1183), rows(3)).size(), "3 rows fit, as it says");
  }

  @Test
  void ordered_oneRowOverTheLimit_saysToRaiseIt() {
    // A limit under one row of the fixed shape cannot be built; a row whose dynamic dimension
    // makes it larger than the limit can be given.
    ModelSpec spec = ModelSpec.builder().id("seq").artifact("seq.pt").signature(Signature
        .builder().input("x", DType.FLOAT32, -1, -1).output("y", DType.FLOAT32, -1, 1).build())
        .maxCallBytes(100).build();
    var e = assertThrows(IllegalArgumentException.class,
        () -> Inputs.ordered(spec, Map.of("x", Tensor.zeros(DType.FLOAT32, 1, 100))));
    assertTrue(e.getMessage().endsWith("). Raise the limit with"
        + " ModelSpec.Builder.maxCallBytes(long) or the spec's JSON field \"maxCallBytes\""),
        e.getMessage());
  }

  @Test
  void ordered_outputsWithADynamicInnerDim_countItAsOne_andAllInputsCount() {
    ModelSpec spec = ModelSpec.builder().id("two").artifact("two.pt").signature(Signature.builder()
        .input("ids", DType.INT64, -1, -1).input("mask", DType.UINT8, -1, -1)
        .output("tokens", DType.FLOAT32, -1, -1, 8).build()).build();
    // 2 x 5 int64 (80 bytes) + 2 x 5 uint8 (10 bytes) in; at least 2 x 1 x 8 floats (64) out.
    Map<String, Tensor> in = Map.of("ids", Tensor.zeros(DType.INT64, 2, 5),
        "mask", Tensor.zeros(DType.UINT8, 2, 5));
    assertEquals(2, Inputs.ordered(spec.toBuilder().maxCallBytes(154).build(), in).size());
    var e = assertThrows(IllegalArgumentException.class,
        () -> Inputs.ordered(spec.toBuilder().maxCallBytes(153).build(), in));
    assertTrue(e.getMessage().contains("input 'ids' int64[2, 5] takes 80 bytes"), e.getMessage());
    assertTrue(e.getMessage().contains("estimated 64 bytes the call needs 154 bytes"),
        e.getMessage());
  }

  @Test
  void ordered_hugeDeclaredOutputs_doNotOverflowPastTheLimit() {
    // A row of each output is just under what a Tensor holds (TensorSpec refuses more); an
    // empty input of 2^40 rows makes their estimate pass a long.
    ModelSpec spec = ModelSpec.builder().id("huge").artifact("huge.pt").signature(Signature
        .builder().input("x", DType.UINT8, -1, -1)
        .output("y", DType.FLOAT32, -1, 1L << 14, (1L << 15) - 1)
        .output("z", DType.FLOAT32, -1, 1L << 14, (1L << 15) - 1).build())
        .maxCallBytes(Long.MAX_VALUE - 1).build();
    var e = assertThrows(IllegalArgumentException.class,
        () -> Inputs.ordered(spec, Map.of("x", Tensor.zeros(DType.UINT8, 1L << 40, 0))));
    assertTrue(e.getMessage().contains("needs " + Long.MAX_VALUE + " bytes"), e.getMessage());
  }

  @Test
  void checkCallable_smallestCallOverTheDefaultLimit_isRefusedNamingTheInputAndTheLimit() {
    // Inputs of 1 GiB a row, one more than the default limit holds (a Tensor holds < 2 GiB).
    long limit = Inputs.defaultMaxCallBytes();
    Signature.Builder sig = Signature.builder().output("y", DType.UINT8, -1, 1);
    for (long i = 0; i <= limit >> 30; i++) {
      sig.input("x" + i, DType.UINT8, -1, 1L << 30);
    }
    ModelSpec spec = ModelSpec.builder().id("wide").artifact("wide.pt").signature(sig.build())
        .build();
    var e = assertThrows(IllegalArgumentException.class, () -> Inputs.checkCallable(spec));
    long least = ((limit >> 30) + 1) * (1L << 30) + 1;
    assertTrue(e.getMessage().startsWith("model 'wide' could take no call: its smallest call (the"
        + " least batch, each other dynamic dimension at 1) needs " + least + " bytes (input 'x0'"
        + " uint8[-1, 1073741824] takes at least 1073741824 bytes), over the limit of " + limit
        + " bytes per call (the default maxCallBytes"), e.getMessage());
    assertTrue(e.getMessage().endsWith("Raise the limit to at least " + least + " with"
        + " ModelSpec.Builder.maxCallBytes(long) or the spec's JSON field \"maxCallBytes\""),
        e.getMessage());
    // With the limit set high enough it builds, and the default no longer applies.
    Inputs.checkCallable(spec.toBuilder().maxCallBytes(least).build());
    Inputs.checkCallable(Fixtures.digits());
  }

  /**
   * The call that got a JVM killed (issue 15): 2,000,000 digit rows, 512 MB in, on the CPU. Its
   * bytes are a sparse file mapped into memory, so the test itself takes none.
   */
  @Test
  void ordered_theReportedTwoMillionDigitRows_areRefusedByTheDefaultLimit(@TempDir Path dir)
      throws IOException {
    int rows = 2_000_000;
    long in = rows * 64L * Float.BYTES;
    long out = rows * 10L * Float.BYTES;
    assumeTrue(Inputs.defaultMaxCallBytes() < in + out, "this machine's default limit ("
        + Inputs.defaultMaxCallBytes() + " bytes) admits the call; it has over 75 GB of memory");
    ByteBuffer bytes;
    try (FileChannel file = FileChannel.open(dir.resolve("rows"), StandardOpenOption.CREATE_NEW,
        StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      file.write(ByteBuffer.wrap(new byte[1]), in - 1);
      bytes = file.map(FileChannel.MapMode.READ_ONLY, 0, in).order(ByteOrder.nativeOrder());
    }
    Tensor huge = Tensor.wrap(DType.FLOAT32, bytes, rows, 1, 8, 8);
    var e = assertThrows(IllegalArgumentException.class,
        () -> Inputs.ordered(Fixtures.digits(), Map.of("image", huge)));
    String m = e.getMessage();
    assertTrue(m.startsWith("call of model 'digits' is too big: input 'image' float32[2000000, 1,"
        + " 8, 8] takes 512000000 bytes"), m);
    assertTrue(m.contains("over the limit of " + Inputs.defaultMaxCallBytes() + " bytes per call"
        + " (the default maxCallBytes, 1/128 of this machine's "), m);
    assertTrue(m.contains("ModelSpec.Builder.maxCallBytes(long)"), m);
  }
}
