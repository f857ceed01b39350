/**
 * The generation engine behind {@link ai.nos.generate.TokenGenerator}: the exported decoder
 * ({@link ai.nos.internal.generate.DecoderModel}), its device-resident key/value cache
 * ({@link ai.nos.internal.generate.KvCache}), sampling on the device
 * ({@link ai.nos.internal.generate.Sampler}) and the continuous-batching scheduler
 * ({@link ai.nos.internal.generate.GenerationEngine}).
 */
package ai.nos.internal.generate;
