/**
 * Audio for speech recognition: {@link ai.nos.hub.audio.Audio}, mono float samples read from WAV
 * files or wrapped from raw PCM, resampled with a band-limited polyphase filter.
 *
 * <p>Whisper's log-mel features of a 30 s window ({@link ai.nos.hub.audio.Audio#whisperFeatures},
 * 80 or 128 bins, transformers' {@code WhisperFeatureExtractor} to 1e-4), what
 * {@code ai.nos.hub.SpeechRecognizer} feeds the encoder. Package-private beside it: the windows of audio longer than 30 s (Whisper's
 * sequential long-form cursor, and overlapping chunks with their stitching by time).
 */
package ai.nos.hub.audio;
