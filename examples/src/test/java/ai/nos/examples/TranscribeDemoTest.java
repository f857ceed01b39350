package ai.nos.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.hub.Transcript;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The example transcribes 40 s of 44.1 kHz audio as two 30 s windows, and four concurrent callers
 * get exactly the lone caller's ids (greedy decoding is the same whatever shares its steps).
 */
final class TranscribeDemoTest {

  @Test
  void twoWindows_andConcurrentCallersGetTheLoneCallersIds() {
    Path models = Path.of(System.getProperty("nos.models.dir", "../models"));
    Path model = models.resolve("whisper-micro");
    TranscribeDemo.Result r = TranscribeDemo.run(model);
    Transcript alone = r.alone();
    assertEquals(2, alone.segments().size(), alone.toString());
    assertEquals(0.0, alone.segments().get(0).start(), 1e-9);
    assertEquals(30.0, alone.segments().get(1).start(), 1e-9);
    assertEquals(40.0, alone.segments().get(1).end(), 1e-6);
    assertTrue(alone.tokenIds().length > 0, alone.toString());
    assertEquals(4, r.together().size());
    for (Transcript t : r.together()) {
      assertArrayEquals(alone.tokenIds(), t.tokenIds(), t.toString());
      assertEquals(alone.segments(), t.segments());
    }
  }
}
