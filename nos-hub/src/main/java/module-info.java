/** NOS hub: a catalog of models with their pre- and post-processing, and verified downloads. */
@SuppressWarnings("requires-automatic") // DJL's tokenizers name their modules in the manifest only
module ai.nos.hub {
  requires transitive ai.nos;
  requires transitive java.desktop;
  requires transitive java.net.http; // Downloader.Builder takes an HttpClient
  requires com.fasterxml.jackson.core;
  requires org.slf4j;
  requires ai.djl.api;
  requires ai.djl.tokenizers;

  exports ai.nos.hub;
  exports ai.nos.hub.audio;
}
