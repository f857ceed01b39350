/**
 * Making models faster before they serve, safely.
 *
 * <ul>
 *   <li>{@link ai.nos.optim.Optimizer}: applies the passes a caller asks for (so far TorchScript
 *       {@code freeze}), caches the result by content and checks it with the guard; a result that
 *       fails the guard is not used.
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
 * <p>Load-time steps (channels-last, {@code optimize_for_inference}, whose CPU result libtorch
 * 2.10 cannot load back from a file, cuDNN benchmark, CUDA graphs) are asked for in the spec
 * ({@link ai.nos.Optimization}); AOTInductor packages ({@code .pt2}) load as a spec's artifact.
 * {@link ai.nos.optim.Optimizer#tensorRt} builds TensorRT engines where TensorRT can (fp32, fp16,
 * and INT8 calibrated on a {@link ai.nos.optim.Calibration}'s batches), and otherwise falls back
 * to the libtorch path with the reason (the missing library and how to install it).
 * {@code ai.nos.optim.internal} holds the JavaCPP side and is not API.
 */
package ai.nos.optim;
