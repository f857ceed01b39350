/**
 * Whisper's audio features on the model's device ({@link ai.nos.internal.audio.WhisperLogMel})
 * and the mel filter bank both it and nos-hub's plain-Java {@code LogMel} use
 * ({@link ai.nos.internal.audio.MelFilters}); exported to nos-hub only.
 */
package ai.nos.internal.audio;
