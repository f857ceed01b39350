/**
 * Audio for speech recognition: {@link ai.nos.hub.audio.Audio}, mono float samples read from WAV
 * files or wrapped from raw PCM, resampled with a band-limited polyphase filter.
 *
 * <p>Whisper's 30 s windows of PCM ({@link ai.nos.hub.audio.Audio#whisperWindow}), what
 * {@code ai.nos.hub.SpeechRecognizer} sends to the model, whose log-mel features are computed
 * on its device; and the same features in plain Java on the calling thread
 * ({@link ai.nos.hub.audio.Audio#whisperFeatures}, 80 or 128 bins, transformers'
 * {@code WhisperFeatureExtractor} to 1e-4), the CPU reference. Package-private beside it: the
 * windows of audio longer than 30 s (Whisper's sequential long-form cursor, and overlapping chunks
 * with their stitching by time).
 */
package ai.nos.hub.audio;
