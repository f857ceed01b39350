package ai.nos.internal.json;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.StreamWriteConstraints;
import java.io.CharConversionException;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A JSON document held in memory, read with jackson-core's streaming parser: what the spec and
 * catalog readers walk with {@link JsonFields}. Its methods are named as Jackson databind's
 * {@code JsonNode}'s, whose tree it replaces so that reading a spec loads no databind class
 * (a fresh JVM loaded about 400 of them for ModelSpec.fromJson, issue 20 item 5), and its
 * {@link #toString()} writes what {@code JsonNode.toString()} wrote (compact JSON; a float as
 * {@link Double#toString(double)}), which error messages quote.
 *
 * <p>Hostile input: {@link #parse} caps the nesting depth, refuses duplicate keys and anything
 * after the root value, and builds the tree without recursion; so does {@link #toString()}'s
 * writer (Jackson's generator keeps its own context, and the depth is capped at parse).
 *
 * <p>Immutable, thread-safe.
 */
public final class JsonValue {
  private enum Kind {
    OBJECT, ARRAY, STRING, INTEGER, FLOAT, BOOLEAN, NULL
  }

  private static final JsonValue TRUE = new JsonValue(Kind.BOOLEAN, null, null, null, null, 0,
      true);
  private static final JsonValue FALSE = new JsonValue(Kind.BOOLEAN, null, null, null, null, 0,
      false);
  private static final JsonValue NULL = new JsonValue(Kind.NULL, null, null, null, null, 0, false);
  private static final BigInteger MIN_INT = BigInteger.valueOf(Integer.MIN_VALUE);
  private static final BigInteger MAX_INT = BigInteger.valueOf(Integer.MAX_VALUE);
  private static final BigInteger MIN_LONG = BigInteger.valueOf(Long.MIN_VALUE);
  private static final BigInteger MAX_LONG = BigInteger.valueOf(Long.MAX_VALUE);
  /** Jackson's generator keeps its nesting in a linked context, not the stack: no cap needed. */
  private static final JsonFactory WRITING = JsonFactory.builder()
      .streamWriteConstraints(StreamWriteConstraints.builder().maxNestingDepth(Integer.MAX_VALUE)
          .build())
      .build();

  private final Kind kind;
  private final Map<String, JsonValue> fields;
  private final List<JsonValue> items;
  private final String text;
  private final BigInteger integer;
  private final double number;
  private final boolean bool;

  private JsonValue(Kind kind, Map<String, JsonValue> fields, List<JsonValue> items, String text,
      BigInteger integer, double number, boolean bool) {
    this.kind = kind;
    this.fields = fields;
    this.items = items;
    this.text = text;
    this.integer = integer;
    this.number = number;
    this.bool = bool;
  }

  /** A parser factory capping the nesting depth at {@code maxDepth}, refusing duplicate keys. */
  public static JsonFactory factory(int maxDepth) {
    return JsonFactory.builder()
        .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(maxDepth).build())
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .build();
  }

  /**
   * The document in {@code json} (from bytes, so that Jackson detects the encoding and reports
   * bad bytes with a location); null if it holds no value at all.
   *
   * @throws JacksonException if it is not one JSON value (the message is Jackson's: "Duplicate
   *     field 'x'", "Trailing token ...", a nesting depth over the factory's, a syntax error), or
   *     its bytes are not valid in the encoding detected (an invalid UTF-32 character)
   */
  public static JsonValue parse(JsonFactory factory, byte[] json) throws JacksonException {
    return parse(() -> factory.createParser(json));
  }

  /** As {@link #parse(JsonFactory, byte[])}, from a string. */
  public static JsonValue parse(JsonFactory factory, String json) throws JacksonException {
    return parse(() -> factory.createParser(json));
  }

  /** A parser over JSON held in memory. */
  private interface Source {
    JsonParser open() throws IOException;
  }

  private static JsonValue parse(Source source) throws JacksonException {
    try (JsonParser p = source.open()) {
      return read(p);
    } catch (JacksonException e) {
      throw e;
    } catch (CharConversionException e) {
      // Bytes Jackson reads as UTF-32 (it detects the encoding from the first four) decode
      // through a Reader, whose bad characters are this plain IOException, not a JacksonException:
      // "Invalid UTF-32 character 0x7eff0000 (above 0x0010ffff) at char #0, byte #7)".
      throw new JsonParseException(null, "the bytes are not valid in the encoding they appear"
          + " to be in: " + e.getMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read JSON held in memory", e); // not from memory
    }
  }

  /** One value from {@code p}, then nothing but the end of input; without recursion. */
  private static JsonValue read(JsonParser p) throws IOException {
    JsonToken token = p.nextToken();
    if (token == null) {
      return null;
    }
    // Containers being filled, innermost last; each object's pending key beside it.
    Deque<Object> open = new ArrayDeque<>();
    Deque<String> keys = new ArrayDeque<>();
    JsonValue root = null;
    while (root == null) {
      JsonValue done = null;
      switch (token) {
        case START_OBJECT -> open.push(new LinkedHashMap<String, JsonValue>());
        case START_ARRAY -> open.push(new ArrayList<JsonValue>());
        case FIELD_NAME -> keys.push(p.currentName());
        case END_OBJECT -> {
          @SuppressWarnings("unchecked")
          Map<String, JsonValue> map = (Map<String, JsonValue>) open.pop();
          done = new JsonValue(Kind.OBJECT, Collections.unmodifiableMap(map), null, null, null,
              0, false);
        }
        case END_ARRAY -> {
          @SuppressWarnings("unchecked")
          List<JsonValue> list = (List<JsonValue>) open.pop();
          done = new JsonValue(Kind.ARRAY, null, Collections.unmodifiableList(list), null, null,
              0, false);
        }
        case VALUE_STRING -> done = new JsonValue(Kind.STRING, null, null, p.getText(), null, 0,
            false);
        case VALUE_NUMBER_INT -> {
          BigInteger big = p.getBigIntegerValue();
          done = new JsonValue(Kind.INTEGER, null, null, null, big, big.doubleValue(), false);
        }
        case VALUE_NUMBER_FLOAT -> done = new JsonValue(Kind.FLOAT, null, null, null, null,
            p.getDoubleValue(), false);
        case VALUE_TRUE -> done = TRUE;
        case VALUE_FALSE -> done = FALSE;
        case VALUE_NULL -> done = NULL;
        default -> throw new JsonParseException(p, "unexpected token " + token);
      }
      if (done != null) {
        if (open.isEmpty()) {
          root = done;
        } else if (open.peek() instanceof Map<?, ?> map) {
          @SuppressWarnings("unchecked")
          Map<String, JsonValue> fields = (Map<String, JsonValue>) map;
          fields.put(keys.pop(), done);
        } else {
          @SuppressWarnings("unchecked")
          List<JsonValue> list = (List<JsonValue>) open.peek();
          list.add(done);
        }
      }
      if (root == null) {
        token = p.nextToken();
        if (token == null) {
          throw new JsonParseException(p, "Unexpected end-of-input: the document's "
              + (open.peek() instanceof Map ? "object" : "array") + " is not closed");
        }
      }
    }
    JsonToken trailing = p.nextToken();
    if (trailing != null) {
      throw new JsonParseException(p, "Trailing token (of type " + trailing + ") found after"
          + " value: not allowed");
    }
    return root;
  }

  /**
   * The kind of value as databind's {@code JsonNodeType} names it: OBJECT, ARRAY, STRING, NUMBER,
   * BOOLEAN or NULL (for messages).
   */
  public String nodeType() {
    return switch (kind) {
      case INTEGER, FLOAT -> "NUMBER";
      default -> kind.name();
    };
  }

  public boolean isObject() {
    return kind == Kind.OBJECT;
  }

  public boolean isArray() {
    return kind == Kind.ARRAY;
  }

  public boolean isTextual() {
    return kind == Kind.STRING;
  }

  public boolean isBoolean() {
    return kind == Kind.BOOLEAN;
  }

  public boolean isNull() {
    return kind == Kind.NULL;
  }

  public boolean isNumber() {
    return kind == Kind.INTEGER || kind == Kind.FLOAT;
  }

  /** Whether the value was written without a fraction or exponent. */
  public boolean isIntegralNumber() {
    return kind == Kind.INTEGER;
  }

  /** The string's value; null for any other kind. */
  public String textValue() {
    return text;
  }

  /** The boolean's value; false for any other kind. */
  public boolean booleanValue() {
    return bool;
  }

  /** Whether the number is an integer within an int's range (a float: within it, truncated). */
  public boolean canConvertToInt() {
    if (kind == Kind.INTEGER) {
      return integer.compareTo(MIN_INT) >= 0 && integer.compareTo(MAX_INT) <= 0;
    }
    return kind == Kind.FLOAT && number >= Integer.MIN_VALUE && number <= Integer.MAX_VALUE;
  }

  /** Whether the number is an integer within a long's range (a float: within it, truncated). */
  public boolean canConvertToLong() {
    if (kind == Kind.INTEGER) {
      return integer.compareTo(MIN_LONG) >= 0 && integer.compareTo(MAX_LONG) <= 0;
    }
    return kind == Kind.FLOAT && number >= Long.MIN_VALUE && number <= Long.MAX_VALUE;
  }

  /** The number as an int (check {@link #canConvertToInt} first); 0 for any other kind. */
  public int intValue() {
    return kind == Kind.INTEGER ? integer.intValue() : (int) number;
  }

  /** As {@link #intValue()}; databind's name for the same. */
  public int asInt() {
    return intValue();
  }

  /** The number as a long (check {@link #canConvertToLong} first); 0 for any other kind. */
  public long longValue() {
    return kind == Kind.INTEGER ? integer.longValue() : (long) number;
  }

  /** The number as a double (an integer beyond 2^53 rounded); 0 for any other kind. */
  public double doubleValue() {
    return number;
  }

  /** Items of an array or fields of an object; 0 for any other kind. */
  public int size() {
    return kind == Kind.ARRAY ? items.size() : kind == Kind.OBJECT ? fields.size() : 0;
  }

  /** An array's item {@code i}; null if out of range or not an array. */
  public JsonValue get(int i) {
    return kind == Kind.ARRAY && i >= 0 && i < items.size() ? items.get(i) : null;
  }

  /** An object's field; null if absent or not an object. */
  public JsonValue get(String field) {
    return kind == Kind.OBJECT ? fields.get(field) : null;
  }

  public boolean has(String field) {
    return kind == Kind.OBJECT && fields.containsKey(field);
  }

  /** An object's field names in document order; none for any other kind. */
  public Iterator<String> fieldNames() {
    return kind == Kind.OBJECT ? fields.keySet().iterator()
        : Collections.<String>emptyIterator();
  }

  /** An object's fields in document order; none for any other kind. */
  public Iterator<Map.Entry<String, JsonValue>> fields() {
    return kind == Kind.OBJECT ? fields.entrySet().iterator()
        : Collections.<Map.Entry<String, JsonValue>>emptyIterator();
  }

  /** Writes this value with {@code g}, without recursion. */
  public void write(JsonGenerator g) throws IOException {
    // Each frame: a container and the iterator over what is left of it.
    Deque<Object[]> frames = new ArrayDeque<>();
    JsonValue next = this;
    while (true) {
      if (next != null) {
        switch (next.kind) {
          case OBJECT -> {
            g.writeStartObject();
            frames.push(new Object[] {next, next.fields.entrySet().iterator()});
          }
          case ARRAY -> {
            g.writeStartArray();
            frames.push(new Object[] {next, next.items.iterator()});
          }
          case STRING -> g.writeString(next.text);
          case INTEGER -> g.writeNumber(next.integer);
          case FLOAT -> g.writeNumber(next.number);
          case BOOLEAN -> g.writeBoolean(next.bool);
          case NULL -> g.writeNull();
          default -> throw new IllegalStateException("kind " + next.kind);
        }
        next = null;
      }
      if (frames.isEmpty()) {
        return;
      }
      Object[] frame = frames.peek();
      Iterator<?> rest = (Iterator<?>) frame[1];
      if (!rest.hasNext()) {
        frames.pop();
        if (((JsonValue) frame[0]).kind == Kind.OBJECT) {
          g.writeEndObject();
        } else {
          g.writeEndArray();
        }
        continue;
      }
      Object item = rest.next();
      if (item instanceof Map.Entry<?, ?> field) {
        g.writeFieldName((String) field.getKey());
        next = (JsonValue) field.getValue();
      } else {
        next = (JsonValue) item;
      }
    }
  }

  /** The value as compact JSON, as Jackson writes it. */
  @Override
  public String toString() {
    StringWriter out = new StringWriter();
    try (JsonGenerator g = WRITING.createGenerator(out)) {
      write(g);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write JSON held in memory", e);
    }
    return out.toString();
  }

  /**
   * This object with {@code first}'s fields before its own (a field of its own replaces the
   * same one of {@code first}, keeping {@code first}'s place), as databind's
   * {@code ObjectNode.setAll} onto a node holding {@code first} did.
   *
   * @throws IllegalStateException if this is not an object
   */
  public JsonValue withFieldsFirst(Map<String, String> first) {
    if (kind != Kind.OBJECT) {
      throw new IllegalStateException("not an object: " + this);
    }
    Map<String, JsonValue> all = new LinkedHashMap<>();
    first.forEach((k, v) -> all.put(k, new JsonValue(Kind.STRING, null, null, v, null, 0,
        false)));
    all.putAll(fields);
    return new JsonValue(Kind.OBJECT, Collections.unmodifiableMap(all), null, null, null, 0,
        false);
  }
}
