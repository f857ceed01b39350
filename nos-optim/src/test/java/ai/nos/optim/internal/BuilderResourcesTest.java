package ai.nos.optim.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding TensorRT's builder resource for a GPU: the redist jar's folder lacks sm_90's. */
final class BuilderResourcesTest {

  @Test
  void redistFolder_lacksHopper_named(@TempDir Path dir) throws Exception {
    Files.createFile(dir.resolve("libnvinfer.so.10"));
    Files.createFile(dir.resolve("libnvinfer_builder_resource_ptx.so.10.15.1"));
    assertEquals("libnvinfer_builder_resource_sm90.so.10.15.1",
        BuilderResources.missing("sm_90", List.of(dir), "10.15.1"));
  }

  @Test
  void perArchitectureOrSingleResource_found(@TempDir Path dir) throws Exception {
    Path perArch = Files.createDirectory(dir.resolve("a"));
    Files.createFile(perArch.resolve("libnvinfer_builder_resource_sm90.so.10.15.1"));
    assertNull(BuilderResources.missing("sm_90", List.of(dir.resolve("none"), perArch),
        "10.15.1"));
    assertEquals("libnvinfer_builder_resource_sm100.so",
        BuilderResources.missing("sm_100", List.of(perArch), null));
    Path single = Files.createDirectory(dir.resolve("b"));
    Files.createFile(single.resolve("libnvinfer_builder_resource.so.10.15.1"));
    assertNull(BuilderResources.missing("sm_100", List.of(single), "10.15.1"));
  }
}
