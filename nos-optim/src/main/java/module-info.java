/** NOS optimizer: precision, freezing, compiled artifacts and their cache. Only {@code ai.nos.optim} is API. */
module ai.nos.optim {
  requires transitive ai.nos;
  requires com.fasterxml.jackson.databind;
  requires org.slf4j;
  requires org.bytedeco.javacpp;
  requires org.bytedeco.pytorch;
  requires org.bytedeco.tensorrt;

  exports ai.nos.optim;
}
