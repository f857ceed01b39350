/**
 * Public API of NOS: load a model described by a {@link ai.nos.ModelSpec} with {@code Nos.load}
 * and call {@code infer}.
 */
package ai.nos;
