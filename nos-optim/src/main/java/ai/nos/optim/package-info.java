/**
 * Making models faster before they serve, safely.
 *
 * <ul>
 *   <li>{@link ai.nos.optim.ArtifactCache}: the on-disk cache of optimized artifacts, keyed by
 *       {@link ai.nos.optim.CacheKey} (source digest, options, device architecture, library
 *       versions), filled by an {@link ai.nos.optim.ArtifactBuilder}. Entries are published
 *       atomically, checksummed and rebuilt when corrupt, and built once across threads and
 *       processes.
 *   <li>{@link ai.nos.optim.AccuracyGuard}: compares an optimized model with the eager fp32 model
 *       on random inputs and returns a {@link ai.nos.optim.GuardResult}; a model that fails it is
 *       not to be used.
 *   <li>{@link ai.nos.optim.OptimizationException}: what both throw when an optimization cannot
 *       be made.
 * </ul>
 *
 * <p>The optimization passes themselves (TorchScript freezing and precision, CUDA graphs,
 * AOTInductor, TensorRT) are still to come (issue #5); this package holds the machinery they will
 * share.
 */
package ai.nos.optim;
