package ai.nos.optim.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.tensorrt.global.nvinfer;
import org.bytedeco.tensorrt.global.nvonnxparser;
import org.bytedeco.tensorrt.nvinfer.Dims64;
import org.bytedeco.tensorrt.nvinfer.IBuilder;
import org.bytedeco.tensorrt.nvinfer.IBuilderConfig;
import org.bytedeco.tensorrt.nvinfer.IHostMemory;
import org.bytedeco.tensorrt.nvinfer.ILogger;
import org.bytedeco.tensorrt.nvinfer.INetworkDefinition;
import org.bytedeco.tensorrt.nvinfer.IOptimizationProfile;
import org.bytedeco.tensorrt.nvinfer.ITensor;
import org.bytedeco.tensorrt.nvonnxparser.IParser;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TensorRT through the Bytedeco presets: whether its libraries load here ({@link #probe}), and
 * building a serialized engine from an ONNX file ({@link #build}). JavaCPP types stay in here.
 *
 * <p>Concurrency: the probe runs once per JVM (holder idiom) and is then read by any thread.
 * {@link #build} may be called from any thread; builds run one at a time per JVM (a build
 * occupies the whole GPU while TensorRT times its tactics anyway). Every TensorRT object gets the
 * JVM's one {@link TensorRtLogger}; a build takes a mark in its log first, so its failure carries
 * the messages TensorRT logged during that build.
 *
 * <p>Native memory: TensorRT 10 frees its objects with C++ {@code delete}, which the presets do
 * not map for objects TensorRT creates (the builder, network, parser, config, profile and the
 * serialized engine's buffer). A build therefore keeps those host allocations for the life of
 * the JVM; the optimizer builds each engine once per key and does not retry a failed build in
 * the same JVM, so this is bounded by the number of distinct engines built.
 */
public final class TensorRt {
  private static final Logger LOG = LoggerFactory.getLogger(TensorRt.class);
  /** Workspace TensorRT may use while it times tactics. */
  private static final long WORKSPACE_BYTES = 4L << 30;

  private TensorRt() {}

  /** What {@link #probe} found: a version when TensorRT loaded, else why it did not. */
  public record Probe(String version, String reason) {
    /** Whether TensorRT's libraries loaded. */
    public boolean usable() {
      return reason == null;
    }
  }

  private static final class Holder {
    static final Probe PROBE = load();
  }

  private static final Object BUILD_LOCK = new Object();

  /** Loads TensorRT's libraries once and says whether that worked; never throws. */
  public static Probe probe() {
    return Holder.PROBE;
  }

  private static Probe load() {
    try {
      Loader.load(nvinfer.class);
      Loader.load(nvonnxparser.class);
      int v = nvinfer.getInferLibVersion();
      String version = (v / 10000) + "." + (v / 100 % 100) + "." + (v % 100);
      LOG.debug("TensorRT {} loaded", version);
      return new Probe(version, null);
    } catch (LinkageError | RuntimeException e) {
      return new Probe(null, MissingLibrary.explainLoadFailure(e));
    }
  }

  /** What a build needs to know. */
  public record Request(Path onnx, boolean fp16, int minBatch, int optBatch, int maxBatch,
      int device, String arch) {}

  /**
   * Builds a serialized engine from an ONNX file and writes it to {@code target}: one
   * optimization profile over the batch range for every input whose first dimension is
   * dynamic, fp16 kernels allowed when asked.
   *
   * @throws IllegalStateException if TensorRT did not load (the probe's reason), if the ONNX
   *     file does not parse (the parser's errors), if an input has a dynamic dimension after the
   *     batch, or if TensorRT builds no engine ({@link MissingLibrary#explainBuildFailure})
   * @throws IOException if the engine cannot be written
   */
  public static void build(Request request, Path target) throws IOException {
    Probe probe = probe();
    if (!probe.usable()) {
      throw new IllegalStateException(probe.reason());
    }
    synchronized (BUILD_LOCK) {
      TensorRtLogger logger = TensorRtLogger.get();
      buildLocked(request, target, logger, logger.book().mark());
    }
  }

  private static void buildLocked(Request request, Path target, TensorRtLogger logger,
      long mark) throws IOException {
    int previous = currentDevice();
    org.bytedeco.cuda.global.cudart.cudaSetDevice(request.device());
    try {
      IBuilder builder = nvinfer.createInferBuilder(logger);
      if (builder == null || builder.isNull()) {
        throw new IllegalStateException(MissingLibrary.explainBuildFailure(
            logger.book().reasons(mark), request.arch()));
      }
      INetworkDefinition network = builder.createNetworkV2(0);
      IParser parser = nvonnxparser.createParser(network, logger);
      if (!parser.parseFromFile(request.onnx().toString(),
          ILogger.Severity.kWARNING.value)) {
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < parser.getNbErrors(); i++) {
          errors.add(parser.getError(i).desc());
        }
        throw new IllegalStateException("TensorRT cannot parse " + request.onnx() + ": "
            + String.join(" | ", errors.isEmpty() ? logger.book().reasons(mark) : errors));
      }
      IBuilderConfig config = builder.createBuilderConfig();
      config.setMemoryPoolLimit(nvinfer.MemoryPoolType.kWORKSPACE, WORKSPACE_BYTES);
      if (request.fp16()) {
        config.setFlag(nvinfer.BuilderFlag.kFP16);
        // Half inputs and outputs: NOS sends an fp16 spec's inputs as half already, so a float
        // binding would cost a cast back and TensorRT's own reformat to half on every call.
        for (int i = 0; i < network.getNbInputs(); i++) {
          toHalf(network.getInput(i));
        }
        for (int i = 0; i < network.getNbOutputs(); i++) {
          toHalf(network.getOutput(i));
        }
      } else {
        // TensorRT allows TF32 by default (10 bits of mantissa in fp32 convolutions and
        // matmuls); an fp32 spec means fp32 in NOS, as at every libtorch load (TracedTf32).
        config.clearFlag(nvinfer.BuilderFlag.kTF32.value);
      }
      IOptimizationProfile profile = builder.createOptimizationProfile();
      boolean dynamic = false;
      for (int i = 0; i < network.getNbInputs(); i++) {
        ITensor input = network.getInput(i);
        Dims64 dims = input.getDimensions();
        if (dims.nbDims() < 1 || dims.d(0) != -1) {
          continue;
        }
        for (int d = 1; d < dims.nbDims(); d++) {
          if (dims.d(d) < 0) {
            throw new IllegalStateException("input '" + input.getName() + "' of "
                + request.onnx() + " has a dynamic dimension " + d + " after the batch;"
                + " TensorRT's profile here covers the batch only: export it with fixed sizes");
          }
        }
        dynamic = true;
        setBatch(profile, input.getName(), nvinfer.OptProfileSelector.kMIN, dims,
            request.minBatch(), logger.book(), mark);
        setBatch(profile, input.getName(), nvinfer.OptProfileSelector.kOPT, dims,
            request.optBatch(), logger.book(), mark);
        setBatch(profile, input.getName(), nvinfer.OptProfileSelector.kMAX, dims,
            request.maxBatch(), logger.book(), mark);
      }
      if (dynamic && config.addOptimizationProfile(profile) < 0) {
        throw new IllegalStateException("TensorRT refused the batch profile "
            + request.minBatch() + " / " + request.optBatch() + " / " + request.maxBatch()
            + " (min / opt / max) of " + request.onnx() + saidSince(logger.book(), mark));
      }
      // Checked after the network and its profile, so that a bad model or profile is named
      // with TensorRT's own words even where this machine could not build anyway.
      String resource = BuilderResources.missing(request.arch(), probe().version());
      if (resource != null) {
        throw new IllegalStateException(MissingLibrary.missingBuilderResource(resource,
            request.arch()) + " NOS found it neither beside libnvinfer nor on LD_LIBRARY_PATH.");
      }
      IHostMemory engine = builder.buildSerializedNetwork(network, config);
      if (engine == null || engine.isNull() || engine.size() == 0) {
        throw new IllegalStateException(MissingLibrary.explainBuildFailure(
            logger.book().reasons(mark), request.arch()));
      }
      write(engine, target);
    } finally {
      org.bytedeco.cuda.global.cudart.cudaSetDevice(previous);
    }
  }

  /** A float tensor of the network becomes half; other types stay. */
  private static void toHalf(ITensor t) {
    if (t.getType().value == nvinfer.DataType.kFLOAT.value) {
      t.setType(nvinfer.DataType.kHALF.value);
    }
  }

  /** {@code "; TensorRT said: ..."}, or nothing when it logged nothing since {@code mark}. */
  static String saidSince(TensorRtLog book, long mark) {
    List<String> said = book.reasons(mark);
    return said.isEmpty() ? "" : "; TensorRT said: " + String.join(" | ", said);
  }

  private static void setBatch(IOptimizationProfile profile, String input,
      nvinfer.OptProfileSelector which, Dims64 dims, int batch, TensorRtLog book, long mark) {
    try (Dims64 shape = new Dims64()) {
      shape.nbDims(dims.nbDims());
      shape.d(0, batch);
      for (int d = 1; d < dims.nbDims(); d++) {
        shape.d(d, dims.d(d));
      }
      if (!profile.setDimensions(input, which, shape)) {
        throw new IllegalStateException("TensorRT refused batch " + batch + " as the " + which
            + " of input '" + input + "'" + saidSince(book, mark));
      }
    }
  }

  private static void write(IHostMemory engine, Path target) throws IOException {
    long size = engine.size();
    try (BytePointer bytes = new BytePointer(engine.data()).capacity(size);
        FileChannel out = FileChannel.open(target, StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE)) {
      ByteBuffer buffer = bytes.asByteBuffer();
      while (buffer.hasRemaining()) {
        out.write(buffer);
      }
      out.force(true);
    }
    if (Files.size(target) != size) {
      throw new IOException("wrote " + Files.size(target) + " of " + size + " engine bytes to "
          + target);
    }
  }

  static int currentDevice() {
    int[] device = new int[1];
    org.bytedeco.cuda.global.cudart.cudaGetDevice(device);
    return device[0];
  }
}
