/**
 * Audio for speech recognition: {@link ai.nos.hub.audio.Audio}, mono float samples read from WAV
 * files or wrapped from raw PCM, resampled with a band-limited polyphase filter.
 *
 * <p>Beside it, package-private until the Whisper decode loop that uses them exists (see
 * {@code docs/speech.md}): Whisper's log-mel features (80 or 128 bins, transformers'
 * {@code WhisperFeatureExtractor} to 1e-4), and the windows of audio longer than 30 s (Whisper's
 * sequential long-form cursor, and overlapping chunks with their stitching by time).
 */
package ai.nos.hub.audio;
