package ai.nos.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README's walkthrough code, run on the committed digit model. */
final class YourModelTest {
  private static final Path MODELS = Path.of(System.getProperty("nos.models.dir", "../models"));

  @Test
  void main_printsTheDigitOfItsImage() {
    PrintStream out = System.out;
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
    try {
      YourModel.main(new String[] {MODELS.resolve("digits/digits.json").toString()});
    } finally {
      System.setOut(out);
    }
    String line = printed.toString(StandardCharsets.UTF_8).trim();
    assertTrue(line.matches("digits on (cpu|cuda:\\d+): 7"), line);
  }

  @Test
  void predict_classifiesTheHeldOutDigits() throws Exception {
    Digits test = Digits.read(MODELS.resolve("digits/digits-test.csv"));
    int correct = 0;
    try (Model model = Nos.load(ModelSpec.fromJson(MODELS.resolve("digits/digits.json")))) {
      for (int i = 0; i < test.size(); i++) {
        correct += YourModel.predict(model, test.images(i, 1)) == test.label(i) ? 1 : 0;
      }
    }
    // The shipped model's accuracy on these 360 images (the demo prints 98.33%, 354 of 360).
    assertEquals(354, correct);
  }
}
