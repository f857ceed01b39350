package ai.nos.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The example classifies every held-out digit through its one reused buffer, as DigitsDemo. */
final class PinnedInputDemoTest {

  @Test
  void classifiesTheHeldOutDigits() throws Exception {
    Path models = Path.of(System.getProperty("nos.models.dir", "../models"));
    int[] result = PinnedInputDemo.run(models);
    assertEquals(360, result[1]);
    // The shipped model's accuracy on these 360 images (README: 98.33%, 354 of 360).
    assertEquals(354, result[0]);
  }
}
