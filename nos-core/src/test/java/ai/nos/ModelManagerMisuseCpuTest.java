package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The public API of the manager on real libtorch (CPU), used carelessly. */
@Timeout(60)
final class ModelManagerMisuseCpuTest {

  /**
   * The same spec twice in one loadAll gives two handles, as two loads do: closing every handle
   * returned unloads the model, and none is leaked.
   */
  @Test
  void loadAll_sameSpecTwice_twoHandles_closingBothUnloads() {
    ModelSpec spec = Fixtures.identity(DType.FLOAT32);
    try (ModelManager manager = ModelManager.builder().devices(Device.cpu())
        .noFootprintCatalog().build()) {
      List<Model> handles = manager.loadAll(List.of(spec, spec));
      assertEquals(2, handles.size());
      assertNotSame(handles.get(0), handles.get(1));
      handles.get(0).close();
      assertEquals(1, manager.models().size(), "the other handle still holds the model");
      handles.get(1).close();
      assertEquals(List.of(), manager.models());
    }
  }
}
