package ai.nos.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.nos.ModelSpec;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Holds README.md to the code: the quick-start commands, the walkthrough's code (the same as
 * {@link YourModel}) and spec (the committed digit model's), and the spec JSON reference (a row
 * for every field the parser accepts and none other; its examples parse).
 */
final class ReadmeTest {

  /**
   * The JSON path of the objects whose fields SpecJson lists in its {@code *_FIELDS} constants.
   * The parser keeps them private; reading them by reflection makes this test follow the parser
   * instead of a copy of its field names.
   */
  private static final Map<String, String> PREFIXES = Map.of(
      "SPEC_FIELDS", "",
      "ARTIFACT_FIELDS", "artifact.",
      "SIGNATURE_FIELDS", "signature.",
      "TENSOR_FIELDS", "signature.inputs[].",
      "BATCHING_FIELDS", "batching.",
      "SCALING_FIELDS", "scaling.",
      "PADDING_FIELDS", "batching.padding[].",
      "UNPAD_FIELDS", "batching.unpad[].",
      "IMAGE_FIELDS", "imageInputs.<name>.");

  private static final Pattern ROW = Pattern.compile("^\\| `([^`]+)` \\|");

  private static final Path MODELS = Path.of(System.getProperty("nos.models.dir", "../models"));

  private static String readme() throws IOException {
    return Files.readString(MODELS.toAbsolutePath().getParent().resolve("README.md"));
  }

  /** The text of a "## " section, from its heading to the next one. */
  private static String section(String readme, String heading) {
    int start = readme.indexOf("\n## " + heading + "\n");
    assertTrue(start >= 0, "README.md has no section '## " + heading + "'");
    int end = readme.indexOf("\n## ", start + 1);
    return readme.substring(start, end < 0 ? readme.length() : end);
  }

  private static List<String> blocks(String text, String language) {
    List<String> out = new ArrayList<>();
    Matcher m = Pattern.compile("(?s)```" + language + "\n(.*?)```").matcher(text);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  @Test
  void quickStart_startsWithTheDemoAndTheTests() throws IOException {
    String first = blocks(readme(), "bash").get(0);
    assertTrue(first.startsWith(
        "mvn -q -B -pl examples -am -DskipTests package exec:java   # the demo"), first);
    assertTrue(first.contains("\nmvn -B verify "), first);
  }

  @Test
  void walkthrough_javaIsYourModel() throws IOException {
    List<String> java = blocks(section(readme(), "Your own model"), "java");
    assertEquals(1, java.size(), "java blocks in '## Your own model'");
    String source = Files.readString(Path.of("src/main/java/ai/nos/examples/YourModel.java"));
    String withoutPackage = source.substring(source.indexOf("import "));
    assertEquals(withoutPackage, java.get(0),
        "README's walkthrough code must be YourModel.java without its package line");
  }

  @Test
  void walkthrough_specIsTheDigitModels() throws IOException {
    List<String> json = blocks(section(readme(), "Your own model"), "json");
    assertEquals(1, json.size(), "json blocks in '## Your own model'");
    ModelSpec shown = ModelSpec.fromJson(json.get(0));
    Path digits = MODELS.resolve("digits/digits.json");
    ModelSpec committed = ModelSpec.fromJson(digits);
    assertEquals(committed, shown.toBuilder()
        .artifact(shown.artifact().resolveAgainst(digits.toAbsolutePath().getParent())).build());
  }

  @Test
  void specReference_hasARowForEachFieldTheParserAccepts() throws Exception {
    TreeSet<String> accepted = new TreeSet<>();
    for (Field f : Class.forName("ai.nos.SpecJson").getDeclaredFields()) {
      if (!Modifier.isStatic(f.getModifiers()) || !f.getName().endsWith("_FIELDS")) {
        continue;
      }
      String prefix = PREFIXES.get(f.getName());
      if (prefix == null) {
        fail("SpecJson has a new list of fields, " + f.getName() + ": give it its JSON path in "
            + "ReadmeTest.PREFIXES and a row per field in README.md's spec JSON reference");
      }
      f.setAccessible(true);
      for (Object name : (List<?>) f.get(null)) {
        accepted.add(prefix + name);
      }
    }
    assertTrue(accepted.contains("id") && accepted.contains("batching.maxBatchSize"),
        "read from SpecJson: " + accepted);
    TreeSet<String> documented = new TreeSet<>();
    for (String line : section(readme(), "Spec JSON reference").split("\n")) {
      Matcher m = ROW.matcher(line);
      if (m.find()) {
        documented.add(m.group(1));
      }
    }
    TreeSet<String> missing = new TreeSet<>(accepted);
    missing.removeAll(documented);
    TreeSet<String> stale = new TreeSet<>(documented);
    stale.removeAll(accepted);
    assertTrue(missing.isEmpty() && stale.isEmpty(), "README.md's spec JSON reference lacks "
        + missing + " and documents fields the parser refuses " + stale);
  }

  @Test
  void specReference_examplesParse() throws IOException {
    List<String> json = blocks(section(readme(), "Spec JSON reference"), "json");
    assertEquals(2, json.size(), "json blocks in '## Spec JSON reference'");
    for (String spec : json) {
      ModelSpec parsed = ModelSpec.fromJson(spec);
      assertEquals(parsed, ModelSpec.fromJson(parsed.toJson()), spec);
    }
  }
}
