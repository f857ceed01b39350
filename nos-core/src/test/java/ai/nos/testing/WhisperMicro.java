package ai.nos.testing;

import ai.nos.Fixtures;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * A Whisper export of scripts/models/make_whisper.py (models/whisper-micro by default) and its
 * reference.json, with the committed log-mel features of its clips (nos-hub's test resources,
 * numpy's WhisperFeatureExtractor transcription, within 4.5e-05 of transformers').
 */
public final class WhisperMicro {
  public static final Path DIR = Fixtures.modelsDir().resolve("whisper-micro");
  static final Path MEL = Fixtures.modelsDir().resolve(
      "../nos-hub/src/test/resources/ai/nos/hub/audio/mel");

  private WhisperMicro() {}

  /** One reference case: a clip, its prompt, and transformers' greedy new tokens. */
  public record Case(String clip, int[] prompt, int[] greedy) {}

  /** The cases of {@code dir}/reference.json. */
  public static List<Case> cases(Path dir) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(dir.resolve("reference.json").toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<Case> out = new ArrayList<>();
    for (JsonNode c : root.get("cases")) {
      out.add(new Case(c.get("clip").asText(), TinyLlama.ints(c.get("prompt_ids")),
          TinyLlama.ints(c.get("greedy_ids"))));
    }
    return out;
  }

  /**
   * A 30 s window of 16 kHz PCM (480,000 samples): {@code seconds} of a tone at {@code hz} with
   * seeded noise, zeros after (Whisper's padding).
   */
  public static float[] pcmWindow(double hz, double seconds, long seed) {
    float[] pcm = new float[480_000];
    java.util.Random random = new java.util.Random(seed);
    for (int i = 0; i < (int) (seconds * 16_000); i++) {
      pcm[i] = (float) (0.4 * Math.sin(2 * Math.PI * hz * i / 16_000.0)
          + 0.05 * random.nextGaussian());
    }
    return pcm;
  }

  /** The clip's 80-bin features [80, 3000], row-major. */
  public static float[] features(String clip) {
    Path file = MEL.resolve(clip + "_80.f32.gz");
    try (InputStream in = new GZIPInputStream(Files.newInputStream(file))) {
      byte[] raw = in.readAllBytes();
      float[] out = new float[raw.length / 4];
      ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
