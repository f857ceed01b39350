/**
 * NOS core: {@code Nos.load(spec).infer(...)}, the model manager and token generation. Only
 * {@code ai.nos} and {@code ai.nos.generate} are API.
 *
 * <p>The other NOS modules get what they need through qualified exports, never a public internal:
 * nos-optim the libtorch runtime ({@code internal.torch}, for its TorchScript and TensorRT passes)
 * and the accuracy figures ({@code internal}); nos-hub the JSON field readers of the spec format
 * and the resampling weights it shares with the device path, the mel filter bank and device log-mel
 * of Whisper's features, and the lease that frees a shared tokenizer after its last use
 * ({@code internal}); both the cross-process file lock. The benchmarks and examples run on the
 * class path, where a module's exports do not apply; only the benchmarks use internals (libtorch's
 * allocator figures).
 */
@SuppressWarnings("module") // nos-optim and nos-hub are built after this module
module ai.nos {
  requires com.fasterxml.jackson.core;
  requires org.slf4j;
  requires org.bytedeco.javacpp;
  requires org.bytedeco.pytorch;
  requires org.bytedeco.cuda;
  requires jdk.management;

  exports ai.nos;
  exports ai.nos.generate;
  exports ai.nos.internal to ai.nos.optim, ai.nos.hub;
  exports ai.nos.internal.torch to ai.nos.optim;
  exports ai.nos.internal.files to ai.nos.optim, ai.nos.hub;
  exports ai.nos.internal.json to ai.nos.hub, ai.nos.optim;
  exports ai.nos.internal.image to ai.nos.hub;
  exports ai.nos.internal.audio to ai.nos.hub;

  // Compiled artifacts other modules serve through Nos.load (nos-optim: TensorRT engines).
  uses ai.nos.internal.torch.CompiledFormat;
}
