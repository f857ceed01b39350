package ai.nos.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Batching;
import ai.nos.DType;
import ai.nos.Device;
import ai.nos.Fixtures;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import org.junit.jupiter.api.Test;

/** ExecutorModels' ids for a second spec of one id in this JVM's manager. */
final class ExecutorModelsTest {
  private static final ModelSpec IDENTITY = Fixtures.identity(DType.FLOAT32);

  @Test
  void load_idOfMaximumLengthHeldWithAnotherSpec_loadsUnderASuffixedIdWithinTheLimit() {
    String id = "m".repeat(ExecutorModels.MAX_ID_LENGTH);
    ModelSpec first = IDENTITY.toBuilder().id(id).build();
    ModelSpec second = first.toBuilder().batching(Batching.ofMaxBatchSize(7)).build();
    Model a = ExecutorModels.load(first);
    String secondId = null;
    try {
      Model b = ExecutorModels.load(second);
      secondId = b.spec().id();
      assertEquals(id, a.spec().id());
      assertEquals(ExecutorModels.MAX_ID_LENGTH, secondId.length(), secondId);
      assertTrue(secondId.matches("m{115}-[0-9a-f]{12}"), secondId);
      assertEquals(secondId, ExecutorModels.suffixedId(second));
    } finally {
      ModelManager.getDefault().unload(id);
      if (secondId != null) {
        ModelManager.getDefault().unload(secondId);
      }
    }
  }

  @Test
  void suffixedId_cutAtASlash_dropsItAndStaysDistinctPerSpec() {
    String id = "a".repeat(114) + "/" + "b".repeat(13);
    ModelSpec first = IDENTITY.toBuilder().id(id).build();
    ModelSpec second = first.toBuilder().batching(Batching.ofMaxBatchSize(7)).build();
    String s1 = ExecutorModels.suffixedId(first);
    String s2 = ExecutorModels.suffixedId(second);
    assertTrue(s1.matches("a{114}-[0-9a-f]{12}"), s1);
    assertNotEquals(s1, s2);
    assertEquals(s1, IDENTITY.toBuilder().id(s1).build().id());
  }

  @Test
  void place_idOfMaximumLengthOnAGpu_fitsTheDeviceWithinTheLimit() {
    String id = "g".repeat(ExecutorModels.MAX_ID_LENGTH);
    ModelSpec placed = ExecutorModels.place(IDENTITY.toBuilder().id(id).build(),
        Device.cuda(3));
    assertEquals("g".repeat(ExecutorModels.MAX_ID_LENGTH - 6) + "-cuda3", placed.id());
    assertEquals("identity-float32-cuda1", ExecutorModels.place(IDENTITY, Device.cuda(1)).id());
  }

  @Test
  void suffixedId_shortId_keepsItWhole() {
    String s = ExecutorModels.suffixedId(IDENTITY);
    assertTrue(s.matches("identity-float32-[0-9a-f]{12}"), s);
  }
}
