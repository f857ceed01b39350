package ai.nos.examples;

import ai.nos.generate.GenerationConfig;
import ai.nos.hub.TextGenerator;
import ai.nos.hub.TextPieces;
import java.nio.file.Path;

/**
 * Text generation with the committed tiny Llama (random weights: the text is gibberish, the
 * machinery is the real one): a whole generation, a streamed one and an iterated one. The
 * README's "Text generation" snippet is this code.
 *
 * <pre>mvn -q -B -pl examples -am -DskipTests package exec:java \
 *     -Dexec.mainClass=ai.nos.examples.GenerateDemo</pre>
 */
public final class GenerateDemo {
  private GenerateDemo() {}

  public static void main(String[] args) {
    Path dir = Path.of(args.length > 0 ? args[0] : "models/llm-tiny");
    try (TextGenerator lm = TextGenerator.load(dir)) {
      GenerationConfig config = GenerationConfig.builder().maxNewTokens(32).build(); // greedy
      String text = lm.generate("Once upon a time", config);
      System.out.println("generate: " + text);
      System.out.print("stream:   ");
      lm.stream("Once upon a time", config, piece -> System.out.print(piece)).join();
      System.out.println();
      System.out.print("pieces:   ");
      try (TextPieces pieces = lm.pieces("Once upon a time", config)) {
        pieces.forEachRemaining(System.out::print);
      }
      System.out.println();
    }
  }
}
