package ai.nos.hub;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/*
 * Turns one generation's token ids into text as they come, with correct UTF-8 across tokens,
 * and finds its stop strings.
 *
 * A byte-level BPE token may hold part of a character (an emoji is 4 bytes, often 2-4 tokens);
 * decoding it alone gives U+FFFD. So, as transformers' TextStreamer and TGI do, the ids since the
 * last emitted text are decoded together, and new text is released only when it does not end in
 * U+FFFD, i.e. when the bytes so far form whole characters.
 *
 * Context. A decoder treats the first id it decodes unlike the others: a SentencePiece decoder
 * (Llama 2's Strip(' ', 1, 0), Metaspace) drops the leading space of its text, WordPiece keeps
 * the "##" of a first piece and puts no space before a first word. Decoded alone, each window
 * lost its space (every word of a Llama 2's text ran into the one before). So, as TGI does,
 * the ids of the window released before are decoded with the new ones, and the new text is what
 * they add: decode(context + new) less decode(context), both as the tokenizer decodes them (ids
 * that added no text, special ones, do not become the context: the one before stays). A decoder
 * whose text of the context is not a prefix of that (none known) falls back to the new ids
 * alone. Two decodes of a few ids per token. The text so is the tokenizer's decoding of all the
 * ids with these decoders (the tests check it with the committed byte-level tokenizers,
 * SentencePiece's two decoders and WordPiece's).
 *
 * Stop strings: the text of the whole generation is kept; text that could still be the start of
 * a stop string is held back, so no piece handed out is later cut. Not thread-safe: one
 * generation's delivery thread uses it.
 */
final class TextStream {
  private final Function<long[], String> decode;
  private final List<String> stops;
  private long[] ids = new long[16];
  private int count;
  /** Ids before this were decoded into {@link #text} already. */
  private int prefix;
  /** Where the context of the next window starts (the ids released last; see the notes). */
  private int context;
  /** The text of the context ids alone, as the tokenizer decodes them. */
  private String contextText = "";
  private final StringBuilder text = new StringBuilder();
  /** Characters of {@link #text} handed out. */
  private int emitted;
  private boolean stopped;

  /** @param decode the tokenizer's decoding of ids, special tokens skipped */
  TextStream(Function<long[], String> decode, List<String> stops) {
    this.decode = decode;
    this.stops = stops;
  }

  /** Adds a token; returns the text now safe to hand out (maybe empty). */
  String add(int id) {
    if (stopped) {
      return "";
    }
    if (count == ids.length) {
      ids = Arrays.copyOf(ids, count * 2);
    }
    ids[count++] = id;
    String window = decode.apply(Arrays.copyOfRange(ids, context, count));
    if (!window.isEmpty() && window.charAt(window.length() - 1) == '\uFFFD') {
      return "";
    }
    String added = added(window);
    text.append(added);
    if (added.isEmpty()) {
      // The context stays (these ids gave no text: special ones) and takes them in: its text is
      // the window just decoded.
      contextText = window;
    } else {
      context = prefix;
      contextText = decode.apply(Arrays.copyOfRange(ids, context, count));
    }
    prefix = count;
    if (cutAtStop()) {
      return release(text.length());
    }
    return release(text.length() - heldBack());
  }

  /**
   * Ends the text before the stop string that starts first in it, if any (of two that the same
   * piece completed, the earlier one, whatever their order in the config); whether one did.
   * None starts before the text handed out: what could begin one is held back.
   */
  private boolean cutAtStop() {
    int first = -1;
    for (String stop : stops) {
      int at = text.indexOf(stop, Math.max(0, emitted - stop.length()));
      if (at >= 0 && (first < 0 || at < first)) {
        first = at;
      }
    }
    if (first < 0) {
      return false;
    }
    stopped = true;
    text.setLength(first);
    return true;
  }

  /** The text the ids since {@link #prefix} add to the context's, given both's {@code window}. */
  private String added(String window) {
    return window.startsWith(contextText) ? window.substring(contextText.length())
        : decode.apply(Arrays.copyOfRange(ids, prefix, count));
  }

  /** Whether a stop string was found; the text ends before it. */
  boolean stopped() {
    return stopped;
  }

  /**
   * What is left at the end of the generation (held back text, a dangling partial byte), cut
   * before a stop string that the last ids' text completes ({@link #stopped()} then).
   */
  String finish() {
    if (!stopped && prefix < count) {
      text.append(added(decode.apply(Arrays.copyOfRange(ids, context, count))));
      prefix = count;
      cutAtStop();
    }
    return release(text.length());
  }

  /** The ids added so far. */
  int[] ids() {
    int[] out = new int[count];
    for (int i = 0; i < count; i++) {
      out[i] = (int) ids[i];
    }
    return out;
  }

  String text() {
    return text.toString();
  }

  private String release(int upTo) {
    if (upTo <= emitted) {
      return "";
    }
    String out = text.substring(emitted, upTo);
    emitted = upTo;
    return out;
  }

  /** The longest end of the text that begins some stop string. */
  private int heldBack() {
    int hold = 0;
    for (String stop : stops) {
      for (int n = Math.min(stop.length() - 1, text.length()); n > hold; n--) {
        if (text.substring(text.length() - n).equals(stop.substring(0, n))) {
          hold = n;
          break;
        }
      }
    }
    return hold;
  }
}
