package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

final class SignatureTest {

  private static final TensorSpec IMAGE = TensorSpec.of("image", DType.FLOAT32, -1, 1, 8, 8);
  private static final TensorSpec LOGITS = TensorSpec.of("logits", DType.FLOAT32, -1, 10);

  @Test
  void build_inputsAndOutputsInOrder() {
    Signature s = Signature.builder()
        .input(IMAGE)
        .input("mask", DType.BOOL, -1, 8, 8)
        .output(LOGITS)
        .build();
    assertEquals(List.of("image", "mask"), s.inputNames());
    assertEquals(List.of("logits"), s.outputNames());
    assertEquals(IMAGE, s.inputs().get(0));
    assertEquals(Optional.of(LOGITS), s.output("logits"));
    assertEquals(Optional.empty(), s.input("logits"));
    assertEquals(Optional.empty(), s.input(null));
    assertEquals("(image: float32[-1, 1, 8, 8], mask: bool[-1, 8, 8]) -> (logits: float32[-1, 10])",
        s.toString());
  }

  @Test
  void inputs_unmodifiable() {
    Signature s = Signature.builder().input(IMAGE).output(LOGITS).build();
    assertThrows(UnsupportedOperationException.class, () -> s.inputs().add(LOGITS));
    assertThrows(UnsupportedOperationException.class, () -> s.outputNames().clear());
  }

  @Test
  void build_noInputs() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Signature.builder().output(LOGITS).build());
    assertEquals("signature.inputs must have at least 1 tensor but was empty", e.getMessage());
  }

  @Test
  void build_noOutputs() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Signature.builder().input(IMAGE).build());
    assertEquals("signature.outputs must have at least 1 tensor but was empty", e.getMessage());
  }

  @Test
  void build_duplicateInput() {
    Signature.Builder b = Signature.builder().input(IMAGE).input("mask", DType.BOOL, -1)
        .input("image", DType.FLOAT16, -1).output(LOGITS);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
    assertEquals("signature.inputs[2].name must be unique but was 'image', the name of "
        + "signature.inputs[0]", e.getMessage());
  }

  @Test
  void build_duplicateOutput() {
    Signature.Builder b = Signature.builder().input(IMAGE).output(LOGITS).output(LOGITS);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
    assertEquals("signature.outputs[1].name must be unique but was 'logits', the name of "
        + "signature.outputs[0]", e.getMessage());
  }

  @Test
  void build_inputAndOutputMayShareName() {
    Signature s = Signature.builder().input("x", DType.FLOAT32, -1).output("x", DType.FLOAT32, -1)
        .build();
    assertEquals(s.inputNames(), s.outputNames());
  }

  @Test
  void input_invalidTensorNamesPath() {
    Signature.Builder b = Signature.builder().input(IMAGE);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> b.input("mask", DType.BOOL, -1, 8, 0));
    assertEquals("signature.inputs[1].shape[2] must be -1 (dynamic) or >= 1 but was 0 in tensor "
        + "'mask'", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> b.output("bad name", DType.BOOL, 1));
    assertTrue(e.getMessage().startsWith("signature.outputs[0].name must match"), e.getMessage());
  }

  @Test
  void output_rowOverATensorsBytes_namesItsPath() {
    Signature.Builder b = Signature.builder().input("x", DType.FLOAT32, -1, 4);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> b.output("y", DType.BFLOAT16, -1, 1 << 20, 1 << 10));
    assertEquals("signature.outputs[0].shape [-1, 1048576, 1024] of bfloat16 takes at least"
        + " 2147483648 bytes (1 row, a dynamic dimension counted as 1) but a Tensor holds at"
        + " most 2147483647 bytes in tensor 'y'", e.getMessage());
  }

  @Test
  void input_null() {
    NullPointerException e = assertThrows(NullPointerException.class,
        () -> Signature.builder().input(IMAGE).input(null));
    assertEquals("signature.inputs[1] must not be null", e.getMessage());
    e = assertThrows(NullPointerException.class, () -> Signature.builder().output(null));
    assertEquals("signature.outputs[0] must not be null", e.getMessage());
  }

  @Test
  void build_batchDimsDiffer() {
    Signature.Builder b = Signature.builder()
        .input("ids", DType.INT64, 4, 128)
        .input("free", DType.INT64, -1, 128)
        .input("mask", DType.INT64, 2, 128)
        .output(LOGITS);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
    assertEquals("signature.inputs[2].shape[0] (the batch dimension) must be -1 or 4 like "
        + "signature.inputs[0] 'ids' but was 2 in tensor 'mask'", e.getMessage());
  }

  @Test
  void build_batchDimsAgree() {
    Signature s = Signature.builder()
        .input("ids", DType.INT64, -1, 128)
        .input("mask", DType.INT64, 4, 128)
        .input("types", DType.INT64, 4, 128)
        .output("out", DType.FLOAT32, 3)
        .build();
    assertEquals(3, s.inputs().size());
  }

  @Test
  void toBuilder_equalAndIndependent() {
    Signature s = Signature.builder().input(IMAGE).output(LOGITS).build();
    assertEquals(s, s.toBuilder().build());
    assertEquals(s.hashCode(), s.toBuilder().build().hashCode());
    Signature more = s.toBuilder().output("probs", DType.FLOAT32, -1, 10).build();
    assertEquals(1, s.outputs().size());
    assertEquals(2, more.outputs().size());
  }

  @Test
  void build_builderReusable() {
    Signature.Builder b = Signature.builder().input(IMAGE).output(LOGITS);
    Signature first = b.build();
    b.output("probs", DType.FLOAT32, -1, 10);
    assertEquals(1, first.outputs().size());
    assertEquals(2, b.build().outputs().size());
  }
}
