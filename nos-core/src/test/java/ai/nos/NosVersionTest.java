package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.internal.torch.TorchRuntime;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

final class NosVersionTest {

  private static InputStream properties(String text) {
    return new ByteArrayInputStream(text.getBytes(StandardCharsets.ISO_8859_1));
  }

  /** The build passes its own version in; outside a jar it comes from the filtered resource. */
  @Test
  void version_isTheBuildsVersion() {
    String expected = System.getProperty("nos.expected.version");
    assertNotNull(expected, "the build sets -Dnos.expected.version");
    assertEquals(expected, Nos.version());
  }

  @Test
  void version_manifestFirst_thenTheResource_thenUnknown() {
    assertEquals("1.2.3", Nos.version("1.2.3", properties("version=9.9.9")));
    assertEquals("0.2.0", Nos.version(null, properties("# made by Maven\nversion = 0.2.0\n")));
    assertEquals("0.2.0", Nos.version(" ", properties("version=0.2.0")));
    assertEquals("unknown", Nos.version(null, properties("version=${project.version}")),
        "an unfiltered resource");
    assertEquals("unknown", Nos.version(null, properties("other=1")));
    assertEquals("unknown", Nos.version(null, properties("version=\\u12")), "malformed");
    assertEquals("unknown", Nos.version(null, null));
  }

  @Test
  void versions_libtorchFromTheNatives_cudaOnlyWithCudaNatives() {
    Versions v = Nos.versions();
    String pytorch = System.getProperty("nos.expected.pytorch");
    assertNotNull(pytorch, "the build sets -Dnos.expected.pytorch");
    // The presets are versioned <libtorch>-<javacpp>: 2.10.0-1.5.13.
    assertEquals(pytorch.substring(0, pytorch.indexOf('-')), v.libtorch());
    assertEquals(Nos.version(), v.nos());
    // CPU natives by default; the gpu profile's CUDA natives say CUDA even without a driver.
    boolean cudaNatives = System.getProperty("nos.expected.classifier", "").endsWith("-gpu");
    assertEquals(cudaNatives, v.cuda().isPresent(), v.toString());
    if (TorchRuntime.hasCudaNatives()) {
      assertTrue(v.cuda().isPresent(), v.toString());
    }
    assertEquals("NOS " + v.nos() + ", libtorch " + v.libtorch() + ", "
        + v.cuda().map(c -> "CUDA " + c).orElse("no CUDA"), v.toString());
    assertEquals(v, Nos.versions());
  }

  @Test
  @Tag("gpu")
  void versions_cudaNatives_sayTheirCudaVersion() {
    String cuda = Nos.versions().cuda().orElseThrow();
    assertTrue(cuda.matches("\\d+\\.\\d+(\\.\\d+)?"), cuda);
  }

  @Test
  void versions_nullParts_areRefused() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> new Versions("0.1.0", null, Optional.empty()));
    assertTrue(e.getMessage().contains("libtorch=null"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new Versions("0.1.0", "2.10.0", null));
  }
}
