package ai.nos.testing;

import java.util.List;
import java.util.Random;

/**
 * Seeded mutations of JSON text for the parser fuzz tests of specs (nos-core) and catalogs
 * (nos-hub): deleting, inserting and replacing characters, truncating, inserting fields and
 * tokens, replacing values, deep nesting, and swapping characters. Each parser test gives the
 * characters, tokens and fields that matter to its format. Shipped in nos-core's test jar.
 */
public final class JsonMutator {
  private final String alphabet;
  private final List<String> tokens;
  private final List<String> fields;

  /**
   * @param alphabet characters to insert or substitute
   * @param tokens JSON values to insert or substitute
   * @param fields {@code "name": value, } snippets to insert after an opening brace
   */
  public JsonMutator(String alphabet, List<String> tokens, List<String> fields) {
    this.alphabet = alphabet;
    this.tokens = List.copyOf(tokens);
    this.fields = List.copyOf(fields);
  }

  /** Applies one to three mutations to {@code json}. */
  public String mutate(Random random, String json) {
    for (int n = 1 + random.nextInt(3); n > 0; n--) {
      json = once(random, json);
    }
    return json;
  }

  private String once(Random random, String json) {
    int at = json.isEmpty() ? 0 : random.nextInt(json.length());
    switch (random.nextInt(9)) {
      case 0:
        return json.substring(0, at)
            + json.substring(Math.min(json.length(), at + 1 + random.nextInt(5)));
      case 1:
        return json.substring(0, at) + alphabet.charAt(random.nextInt(alphabet.length()))
            + json.substring(at);
      case 2:
        return json.isEmpty() ? json : json.substring(0, at)
            + alphabet.charAt(random.nextInt(alphabet.length())) + json.substring(at + 1);
      case 3:
        return json.substring(0, at);
      case 4:
        int brace = json.indexOf('{', at);
        return brace < 0 ? json : json.substring(0, brace + 1)
            + fields.get(random.nextInt(fields.size())) + json.substring(brace + 1);
      case 5:
        int depth = List.of(10, 63, 64, 65, 10_000).get(random.nextInt(5));
        boolean close = random.nextBoolean();
        return json.substring(0, at) + "[".repeat(depth) + (close ? "]".repeat(depth) : "")
            + json.substring(at);
      case 6:
        return json.substring(0, at) + tokens.get(random.nextInt(tokens.size()))
            + json.substring(at);
      case 7:
        return replaceValue(random, json, at);
      default:
        int other = json.isEmpty() ? 0 : random.nextInt(json.length());
        if (json.length() < 2 || at == other) {
          return json;
        }
        char[] chars = json.toCharArray();
        char c = chars[at];
        chars[at] = chars[other];
        chars[other] = c;
        return new String(chars);
    }
  }

  /** Replaces the JSON value after the next ':' or ',' or '[' with a token. */
  private String replaceValue(Random random, String json, int at) {
    int start = -1;
    for (int i = at; i < json.length(); i++) {
      char c = json.charAt(i);
      if (c == ':' || c == '[' || c == ',') {
        start = i + 1;
        break;
      }
    }
    if (start < 0) {
      return json;
    }
    int end = start;
    while (end < json.length() && ",}]".indexOf(json.charAt(end)) < 0) {
      end++;
    }
    return json.substring(0, start) + " " + tokens.get(random.nextInt(tokens.size()))
        + json.substring(end);
  }

  /** {@code s} cut to {@code max} characters, for failure messages. */
  public static String shorten(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max) + "...";
  }
}
