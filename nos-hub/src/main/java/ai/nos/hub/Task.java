package ai.nos.hub;

import java.util.Locale;

/**
 * What a catalog model does, which decides the pre- and post-processing settings its entry
 * carries. Written in JSON as the lower-case name, e.g. {@code "image_classification"}.
 */
public enum Task {
  /** An image in, one score per label out; the entry has {@link ImagePreprocessing}. */
  IMAGE_CLASSIFICATION,
  /** An image in, a vector out; the entry has {@link ImagePreprocessing}. */
  IMAGE_EMBEDDING,
  /** Text in, a vector out; the entry has {@link TextPreprocessing}. */
  TEXT_EMBEDDING,
  /**
   * An image in, boxes with labels and scores out; the entry has {@link ImagePreprocessing} and
   * {@link DetectionPostprocessing}.
   */
  OBJECT_DETECTION,
  /**
   * A prompt in, text out one token at a time (nos-hub's {@link TextGenerator}); the entry has a
   * {@value CatalogEntry#TOKENIZER} artifact ({@code tokenizer.json}) and its signature describes
   * one step of the exported decoder.
   */
  TEXT_GENERATION,
  /**
   * Audio in, a transcript out (nos-hub's {@link SpeechRecognizer}, Whisper); the entry's
   * {@value CatalogArtifact#MODEL} artifact is the exported decoder ({@code decoder.pt}) and its
   * signature describes one decoder step; it has an {@value CatalogEntry#ENCODER} artifact
   * ({@code encoder.pt}), and optionally {@value CatalogEntry#TOKENIZER}
   * ({@code tokenizer.json}) and {@value CatalogEntry#GENERATION_CONFIG}
   * ({@code generation_config.json}).
   */
  SPEECH_RECOGNITION;

  /** The name in JSON, e.g. {@code "image_classification"}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Whether the input is an image, so the entry needs {@link ImagePreprocessing}. */
  public boolean takesImages() {
    return this == IMAGE_CLASSIFICATION || this == IMAGE_EMBEDDING || this == OBJECT_DETECTION;
  }

  /** The {@link #label()}. */
  @Override
  public String toString() {
    return label();
  }
}
