package ai.nos.internal.json;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link JsonValue} answers as databind's JsonNode did for the same document (the spec and catalog
 * readers' messages quote {@code toString()}, and their checks ask {@code isIntegralNumber},
 * {@code canConvertToInt} and the like), and refuses what the readers refused.
 */
final class JsonValueTest {
  private static final JsonFactory FACTORY = JsonValue.factory(8);
  private static final ObjectMapper DATABIND = new ObjectMapper();

  private static final String[] DOCUMENTS = {
      "{}", "[]", "0", "-7", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
      "9223372036854775808", "123456789012345678901234567890", "1.5", "-0.0", "1e20", "1E-7",
      "2.0", "1e400", "-1e400", "12345678.9", "true", "false", "null", "\"\"", "\"a\\\"b\\\\c\"",
      "\"tab\\tnew\\nline\\u0001\"", "\"é€𝄞\"", "\"\\u00e9\"",
      "[1, 2.5, \"x\", null, true, []]",
      "{\"b\": 1, \"a\": {\"c\": [1, {\"d\": null}]}, \"e\": \"f\"}",
      "{\"shape\": [1, 3, 224, 224], \"mean\": [0.485, 0.456, 0.406]}",
  };

  @Test
  void answersAsDatabind_forEveryKindOfValue() throws Exception {
    for (String doc : DOCUMENTS) {
      compare(JsonValue.parse(FACTORY, doc), DATABIND.readTree(doc), doc);
      compare(JsonValue.parse(FACTORY, doc.getBytes(StandardCharsets.UTF_8)),
          DATABIND.readTree(doc), doc + " (bytes)");
    }
  }

  /** Every value of the two trees, walked together. */
  private static void compare(JsonValue mine, JsonNode theirs, String doc) {
    List<Object[]> todo = new ArrayList<>();
    todo.add(new Object[] {mine, theirs, "$"});
    while (!todo.isEmpty()) {
      Object[] pair = todo.remove(todo.size() - 1);
      JsonValue v = (JsonValue) pair[0];
      JsonNode n = (JsonNode) pair[1];
      String at = doc + " at " + pair[2];
      assertEquals(n.toString(), v.toString(), at);
      assertEquals(n.isObject(), v.isObject(), at);
      assertEquals(n.isArray(), v.isArray(), at);
      assertEquals(n.isTextual(), v.isTextual(), at);
      assertEquals(n.isBoolean(), v.isBoolean(), at);
      assertEquals(n.isNull(), v.isNull(), at);
      assertEquals(n.isNumber(), v.isNumber(), at);
      assertEquals(n.isIntegralNumber(), v.isIntegralNumber(), at);
      assertEquals(n.textValue(), v.textValue(), at);
      assertEquals(n.booleanValue(), v.booleanValue(), at);
      assertEquals(n.size(), v.size(), at);
      if (n.isNumber()) {
        assertEquals(n.canConvertToInt(), v.canConvertToInt(), at);
        assertEquals(n.canConvertToLong(), v.canConvertToLong(), at);
        assertEquals(n.doubleValue(), v.doubleValue(), at);
        if (n.canConvertToInt()) {
          assertEquals(n.intValue(), v.intValue(), at);
          assertEquals(n.asInt(), v.asInt(), at);
        }
        if (n.canConvertToLong()) {
          assertEquals(n.longValue(), v.longValue(), at);
        }
      }
      if (n.isArray()) {
        for (int i = 0; i < n.size(); i++) {
          todo.add(new Object[] {v.get(i), n.get(i), pair[2] + "[" + i + "]"});
        }
        assertNull(v.get(n.size()), at);
        assertNull(v.get(-1), at);
      }
      if (n.isObject()) {
        List<String> names = new ArrayList<>();
        n.fieldNames().forEachRemaining(names::add);
        List<String> mineNames = new ArrayList<>();
        v.fieldNames().forEachRemaining(mineNames::add);
        assertEquals(names, mineNames, at + ": the fields in document order");
        for (Iterator<Map.Entry<String, JsonValue>> it = v.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonValue> e = it.next();
          assertTrue(v.has(e.getKey()), at);
          todo.add(new Object[] {e.getValue(), n.get(e.getKey()), pair[2] + "." + e.getKey()});
        }
        assertFalse(v.has("no such field"), at);
        assertNull(v.get("no such field"), at);
      }
    }
  }

  @Test
  void parse_refusesWhatTheReadersRefused_withJacksonsMessages() {
    assertTrue(message("{\"a\": 1, \"a\": 2}").startsWith("Duplicate field 'a'"));
    assertTrue(message("{} {}").startsWith("Trailing token (of type START_OBJECT)"));
    assertTrue(message("1 2").startsWith("Trailing token (of type VALUE_NUMBER_INT)"));
    assertTrue(message("[".repeat(9) + "]".repeat(9)).contains("nesting depth"));
    assertTrue(message("{\"a\": ").contains("end-of-input"));
    assertTrue(message("[1,]").length() > 0);
    assertTrue(message("nul").length() > 0);
  }

  /** Bytes read as UTF-32 decode through a Reader, whose errors are not Jackson's. */
  @Test
  void parse_invalidUtf32Bytes_isAJacksonException_notAnUncheckedIOException() {
    // "{" in UTF-32BE, then a "character" above U+10FFFF.
    byte[] json = {0, 0, 0, '{', 0x7F, 0, 0, 0};
    JacksonException e = assertThrows(JacksonException.class,
        () -> JsonValue.parse(FACTORY, json));
    assertTrue(e.getMessage().contains("Invalid UTF-32 character"), e.getMessage());
  }

  @Test
  void parse_ofNothing_isNull_andTheDepthCapIsExact() throws Exception {
    assertNull(JsonValue.parse(FACTORY, ""));
    assertNull(JsonValue.parse(FACTORY, "  \n "));
    String deepest = "[".repeat(8) + "]".repeat(8);
    assertEquals(deepest, JsonValue.parse(FACTORY, deepest).toString());
  }

  @Test
  void deepDocuments_doNotRecurse() throws Exception {
    // Far deeper than any thread's stack would allow a recursive reader or writer.
    int depth = 200_000;
    JsonFactory deep = JsonValue.factory(depth + 1);
    String doc = "[".repeat(depth) + "]".repeat(depth);
    JsonValue v = JsonValue.parse(deep, doc);
    assertEquals(doc.length(), v.toString().length());
  }

  @Test
  void withFieldsFirst_putsThemBefore_andKeepsItsOwn() throws Exception {
    JsonValue v = JsonValue.parse(FACTORY, "{\"b\": 1, \"id\": \"mine\"}");
    Map<String, String> first = new LinkedHashMap<>();
    first.put("id", "theirs");
    first.put("a", "x");
    assertEquals("{\"id\":\"mine\",\"a\":\"x\",\"b\":1}", v.withFieldsFirst(first).toString());
    assertThrows(IllegalStateException.class,
        () -> JsonValue.parse(FACTORY, "[]").withFieldsFirst(first));
  }

  private static String message(String doc) {
    return assertThrows(JacksonException.class, () -> JsonValue.parse(FACTORY, doc))
        .getOriginalMessage();
  }
}
