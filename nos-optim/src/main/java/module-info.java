/**
 * NOS optimizer: precision, freezing, compiled artifacts and their cache. Only {@code ai.nos.optim}
 * is API.
 */
module ai.nos.optim {
  requires transitive ai.nos;
  requires com.fasterxml.jackson.core;
  requires org.slf4j;
  requires org.bytedeco.javacpp;
  requires org.bytedeco.pytorch;
  requires org.bytedeco.tensorrt;
  requires org.bytedeco.cuda;

  exports ai.nos.optim;

  // TensorRT engines (.engine, .plan, .trt) served through Nos.load.
  provides ai.nos.internal.torch.CompiledFormat with ai.nos.optim.internal.TrtEngineFormat;
}
