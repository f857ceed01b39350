package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

final class DeviceTest {

  @Test
  void factories_kindsAndIndex() {
    assertEquals(Device.Kind.AUTO, Device.auto().kind());
    assertTrue(Device.auto().isAuto());
    assertEquals(Device.Kind.CPU, Device.cpu().kind());
    assertTrue(Device.cpu().isCpu());
    assertTrue(Device.cuda().isCuda());
    assertEquals(OptionalInt.empty(), Device.cuda().index());
    assertEquals(OptionalInt.of(3), Device.cuda(3).index());
    assertTrue(Device.cuda(0).isCuda());
    assertFalse(Device.cuda(0).isCpu());
    assertFalse(Device.cpu().isAuto());
    assertEquals(OptionalInt.empty(), Device.cpu().index());
  }

  @Test
  void cuda_negativeIndex() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Device.cuda(-1));
    assertEquals("device index must be >= 0 but was -1", e.getMessage());
  }

  @ParameterizedTest
  @CsvSource({
    "auto, auto",
    "AUTO, auto",
    "'  cpu ', cpu",
    "Cpu, cpu",
    "cuda, cuda",
    "CUDA:0, cuda:0",
    "cuda:1, cuda:1",
    "cuda:007, cuda:7",
    "cuda:2147483647, cuda:2147483647",
  })
  void parse_accepted(String text, String canonical) {
    Device device = Device.parse(text);
    assertEquals(canonical, device.toString());
    assertEquals(device, Device.parse(device.toString()));
  }

  @ParameterizedTest
  @ValueSource(strings = {
    "gpu", "", " ", "cuda:", "cuda:-1", "cuda:x", "cuda:1.5", "cuda:2147483648", "cpu:0",
    "cuda: 1", "cuda:١", "cuda1", "auto:0", "cuda:0:1"
  })
  void parse_rejected(String text) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Device.parse(text));
    assertEquals("device must be one of auto, cpu, cuda, cuda:N but was '" + text + "'",
        e.getMessage());
  }

  @ParameterizedTest
  @NullSource
  void parse_null(String text) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Device.parse(text));
    assertEquals("device must be one of auto, cpu, cuda, cuda:N but was null", e.getMessage());
  }

  @Test
  void equals_byKindAndIndex() {
    assertEquals(Device.cuda(1), Device.parse("cuda:1"));
    assertEquals(Device.cuda(1).hashCode(), Device.parse("cuda:1").hashCode());
    assertNotEquals(Device.cuda(), Device.cuda(0));
    assertNotEquals(Device.cuda(0), Device.cuda(1));
    assertNotEquals(Device.cpu(), Device.auto());
    assertEquals(Device.cpu(), Device.parse("CPU"));
  }

  @Test
  void toString_parseForm() {
    assertEquals("auto", Device.auto().toString());
    assertEquals("cpu", Device.cpu().toString());
    assertEquals("cuda", Device.cuda().toString());
    assertEquals("cuda:1", Device.cuda(1).toString());
  }
}
