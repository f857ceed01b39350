package ai.nos.optim.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import ai.nos.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.global.torch;
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
 * <p>Native memory: TensorRT 10 frees its objects with C++ {@code delete}, which JavaCPP does
 * not attach to objects TensorRT creates; {@link NativeDelete} attaches it, and every build,
 * built or failed, deletes its serialized engine buffer, config, parser (which holds the ONNX
 * weights), network and builder, in that order (the reverse of their making), before it returns.
 * Optimization profiles are the builder's and go with it. Only the JVM's one logger stays.
 */
public final class TensorRt {
  private static final Logger LOG = LoggerFactory.getLogger(TensorRt.class);
  /** Workspace TensorRT may use while it times tactics. */
  private static final long WORKSPACE_BYTES = 4L << 30;
  /**
   * The vtable slot of {@code nvonnxparser::IParser}'s deleting destructor: eight pure virtuals
   * ({@code parse} .. {@code clearErrors}) come before {@code ~IParser} in NvOnnxParser.h, whose
   * two entries are slots 8 (complete) and 9 (deleting). Read from TensorRT 10.6's
   * libnvonnxparser.so.10 too: slot 9 of the parser's vtable ends in
   * {@code operator delete(this, 0x4a8)}, the size {@code createNvOnnxParser_INTERNAL} allocates.
   */
  static final int PARSER_DELETING_DESTRUCTOR = 9;
  /**
   * The TensorRT version whose parser layout {@link #PARSER_DELETING_DESTRUCTOR} was read from:
   * with another, the parser is kept (a warning says so) rather than call a slot not verified.
   */
  static final String PARSER_LAYOUT_VERSION = "10.6.";

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

  /**
   * What a build needs to know. {@code fp16}: fp16 kernels allowed and half inputs and outputs
   * (else TF32 off and float IO); {@code int8}: INT8 kernels calibrated on its batches, beside
   * what {@code fp16} says (layers TensorRT does not run in int8 run in the spec's precision).
   */
  public record Request(Path onnx, boolean fp16, int minBatch, int optBatch, int maxBatch,
      int device, String arch, Int8 int8) {

    /** A build without INT8. */
    public Request(Path onnx, boolean fp16, int minBatch, int optBatch, int maxBatch, int device,
        String arch) {
      this(onnx, fp16, minBatch, optBatch, maxBatch, device, arch, null);
    }
  }

  /**
   * INT8 calibration data, checked by the caller: each batch maps every network input's name to a
   * host tensor of {@code rows} rows (the calibration profile's batch).
   */
  public record Int8(List<Map<String, Tensor>> batches, int rows) {}

  /**
   * Builds a serialized engine from an ONNX file and writes it to {@code target}: one
   * optimization profile over the batch range for every input whose first dimension is
   * dynamic, fp16 kernels allowed when asked, INT8 calibrated with entropy calibration 2 when
   * asked. Every object the build made is freed before it returns, built or not.
   *
   * @throws IllegalStateException if TensorRT did not load (the probe's reason), if the ONNX
   *     file does not parse (the parser's errors), if an input has a dynamic dimension after the
   *     batch, if calibration failed, or if TensorRT builds no engine
   *     ({@link MissingLibrary#explainBuildFailure})
   * @throws IOException if the engine cannot be written
   */
  public static void build(Request request, Path target) throws IOException {
    Probe probe = probe();
    if (!probe.usable()) {
      throw new IllegalStateException(probe.reason());
    }
    String cannotFree = NativeDelete.check();
    if (cannotFree != null) {
      throw new IllegalStateException(cannotFree);
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
    // What the build made, freed last first in the finally below: the serialized engine, the
    // config, the parser, the network, the builder (optimization profiles belong to the builder,
    // which frees them). The calibrator goes after the config that points at it.
    Deque<Pointer> made = new ArrayDeque<>();
    Int8Calibrator calibrator = null;
    try {
      IBuilder builder = nvinfer.createInferBuilder(logger);
      if (builder == null || builder.isNull()) {
        throw new IllegalStateException(MissingLibrary.explainBuildFailure(
            logger.book().reasons(mark), request.arch()));
      }
      made.push(NativeDelete.own(builder, IBuilder::new));
      INetworkDefinition network = owned(made, builder.createNetworkV2(0),
          INetworkDefinition::new, "network", logger.book(), mark);
      IParser parser = nvonnxparser.createParser(network, logger);
      if (parser == null || parser.isNull()) {
        throw new IllegalStateException("TensorRT made no ONNX parser"
            + saidSince(logger.book(), mark));
      }
      try {
        if (!probe().version().startsWith(PARSER_LAYOUT_VERSION)) {
          throw new IllegalStateException("its vtable was read from TensorRT "
              + PARSER_LAYOUT_VERSION + "x, this is " + probe().version());
        }
        made.push(NativeDelete.ownVirtual(parser, PARSER_DELETING_DESTRUCTOR, "libnvonnxparser"));
      } catch (IllegalStateException e) {
        // Not this TensorRT's layout: keep the parser (and the ONNX weights it holds) rather
        // than call what may not be its destructor.
        LOG.warn("TensorRT's ONNX parser for {} will not be freed: {}", request.onnx(),
            e.getMessage());
      }
      if (!parser.parseFromFile(request.onnx().toString(),
          ILogger.Severity.kWARNING.value)) {
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < parser.getNbErrors(); i++) {
          errors.add(parser.getError(i).desc());
        }
        throw new IllegalStateException("TensorRT cannot parse " + request.onnx() + ": "
            + String.join(" | ", errors.isEmpty() ? logger.book().reasons(mark) : errors));
      }
      IBuilderConfig config = owned(made, builder.createBuilderConfig(), IBuilderConfig::new,
          "builder config", logger.book(), mark);
      config.setMemoryPoolLimit(nvinfer.MemoryPoolType.kWORKSPACE, WORKSPACE_BYTES);
      if (request.fp16()) {
        config.setFlag(nvinfer.BuilderFlag.kFP16);
      }
      if (request.fp16() && request.int8() == null) {
        // Half inputs and outputs: NOS sends an fp16 spec's inputs as half already, so a float
        // binding would cost a cast back and TensorRT's own reformat to half on every call. An
        // INT8 build keeps float ones: TensorRT calibrates in fp32 (its own words: "we disable
        // FP16 mode when calibrating"), and whether it takes half calibration data for a half
        // input is not documented; the runner casts an fp16 spec's inputs to the binding's type.
        for (int i = 0; i < network.getNbInputs(); i++) {
          toHalf(network.getInput(i));
        }
        for (int i = 0; i < network.getNbOutputs(); i++) {
          toHalf(network.getOutput(i));
        }
      }
      if (!request.fp16()) {
        // TensorRT allows TF32 by default (10 bits of mantissa in fp32 convolutions and
        // matmuls); an fp32 spec means fp32 in NOS, as at every libtorch load (TracedTf32).
        config.clearFlag(nvinfer.BuilderFlag.kTF32.value);
      }
      List<ITensor> batched = batchedInputs(network, request.onnx());
      IOptimizationProfile profile = builder.createOptimizationProfile();
      for (ITensor input : batched) {
        setBatches(profile, input, request.minBatch(), request.optBatch(), request.maxBatch(),
            logger.book(), mark);
      }
      if (!batched.isEmpty() && config.addOptimizationProfile(profile) < 0) {
        throw new IllegalStateException("TensorRT refused the batch profile "
            + request.minBatch() + " / " + request.optBatch() + " / " + request.maxBatch()
            + " (min / opt / max) of " + request.onnx() + saidSince(logger.book(), mark));
      }
      if (request.int8() != null) {
        calibrator = int8(request, builder, network, config, batched, logger.book(), mark);
      }
      // Checked after the network and its profile, so that a bad model or profile is named
      // with TensorRT's own words even where this machine could not build anyway.
      String resource = BuilderResources.missing(request.arch(), probe().version());
      if (resource != null) {
        throw new IllegalStateException(MissingLibrary.missingBuilderResource(resource,
            request.arch()) + " NOS found it neither beside libnvinfer nor on LD_LIBRARY_PATH.");
      }
      IHostMemory engine = builder.buildSerializedNetwork(network, config);
      if (engine != null && !engine.isNull()) {
        made.push(NativeDelete.own(engine, IHostMemory::new));
      }
      if (calibrator != null && calibrator.failure() != null) {
        throw new IllegalStateException("INT8 calibration failed at " + calibrator.failure()
            + saidSince(logger.book(), mark));
      }
      if (engine == null || engine.isNull() || engine.size() == 0) {
        throw new IllegalStateException(MissingLibrary.explainBuildFailure(
            logger.book().reasons(mark), request.arch()));
      }
      if (calibrator != null) {
        LOG.debug("INT8 engine of {} calibrated on {} of {} batches of {} rows", request.onnx(),
            calibrator.given(), request.int8().batches().size(), request.int8().rows());
      }
      write(engine, target);
    } finally {
      free(made);
      if (calibrator != null) {
        calibrator.close();
      }
      org.bytedeco.cuda.global.cudart.cudaSetDevice(previous);
    }
  }

  /**
   * INT8 on {@code config}: the flag, a calibration profile whose every batch is the calibration
   * batch (TensorRT calibrates at a profile's kOPT shapes, and every batch it is given must have
   * them), and the calibrator, returned for the caller to keep reachable and free.
   */
  private static Int8Calibrator int8(Request request, IBuilder builder,
      INetworkDefinition network, IBuilderConfig config, List<ITensor> batched, TensorRtLog book,
      long mark) {
    int rows = request.int8().rows();
    config.setFlag(nvinfer.BuilderFlag.kINT8);
    if (!batched.isEmpty()) {
      IOptimizationProfile calibration = builder.createOptimizationProfile();
      for (ITensor input : batched) {
        setBatches(calibration, input, rows, rows, rows, book, mark);
      }
      if (!config.setCalibrationProfile(calibration)) {
        throw new IllegalStateException("TensorRT refused the calibration profile of batch "
            + rows + " for " + request.onnx() + saidSince(book, mark));
      }
    }
    Map<String, long[]> shapes = new LinkedHashMap<>();
    for (int i = 0; i < network.getNbInputs(); i++) {
      ITensor input = network.getInput(i);
      Dims64 dims = input.getDimensions();
      long[] shape = new long[Math.max(0, dims.nbDims())];
      for (int d = 0; d < shape.length; d++) {
        shape[d] = dims.d(d);
      }
      shapes.put(input.getName(), shape);
    }
    checkCalibrationShapes(shapes, request.int8(), request.onnx());
    Map<String, torch.ScalarType> types = new LinkedHashMap<>();
    for (int i = 0; i < network.getNbInputs(); i++) {
      ITensor input = network.getInput(i);
      torch.ScalarType type = TrtRunner.scalarType(input.getType().value);
      if (type == null) {
        throw new IllegalStateException("input '" + input.getName() + "' of " + request.onnx()
            + " has TensorRT data type " + input.getType().value + ", which NOS cannot"
            + " calibrate with");
      }
      types.put(input.getName(), type);
    }
    Int8Calibrator calibrator = new Int8Calibrator(request.int8().batches(), rows, types,
        request.device());
    config.setInt8Calibrator(calibrator);
    return calibrator;
  }

  /**
   * Refuses calibration batches whose tensors are not exactly the shape the network reads:
   * {@code network} maps each input's name to its dimensions in the parsed network (-1 for the
   * dynamic batch, which calibrates at {@code int8.rows()}). The caller checked the batches
   * against the spec only; where the spec leaves a dimension dynamic that the ONNX file fixes (or
   * fixes it otherwise), TensorRT would read a device buffer of another size than it thinks:
   * past its end, from C++. Checked before any buffer is handed over.
   *
   * @throws IllegalArgumentException naming the batch, the input, the shape expected and given
   */
  static void checkCalibrationShapes(Map<String, long[]> network, Int8 int8, Path onnx) {
    List<Map<String, Tensor>> batches = int8.batches();
    for (int b = 0; b < batches.size(); b++) {
      Map<String, Tensor> batch = batches.get(b);
      for (Map.Entry<String, long[]> input : network.entrySet()) {
        long[] expected = input.getValue().clone();
        if (expected.length > 0 && expected[0] == -1) {
          expected[0] = int8.rows();
        }
        Tensor given = batch.get(input.getKey());
        if (given == null) {
          throw new IllegalArgumentException("INT8 calibration batch " + b + " for " + onnx
              + " has no tensor for the network's input '" + input.getKey() + "' (shape "
              + java.util.Arrays.toString(expected) + "); it holds " + batch.keySet());
        }
        if (!java.util.Arrays.equals(expected, given.shape())) {
          throw new IllegalArgumentException("INT8 calibration batch " + b + ", input '"
              + input.getKey() + "': the network of " + onnx + " reads shape "
              + java.util.Arrays.toString(expected) + " (batch " + int8.rows()
              + " rows), the batch gives " + java.util.Arrays.toString(given.shape()));
        }
      }
    }
  }

  /** The network's inputs with a dynamic first dimension; refuses other dynamic dimensions. */
  private static List<ITensor> batchedInputs(INetworkDefinition network, Path onnx) {
    List<ITensor> batched = new ArrayList<>();
    for (int i = 0; i < network.getNbInputs(); i++) {
      ITensor input = network.getInput(i);
      Dims64 dims = input.getDimensions();
      if (dims.nbDims() < 1 || dims.d(0) != -1) {
        continue;
      }
      for (int d = 1; d < dims.nbDims(); d++) {
        if (dims.d(d) < 0) {
          throw new IllegalStateException("input '" + input.getName() + "' of " + onnx
              + " has a dynamic dimension " + d + " after the batch;"
              + " TensorRT's profile here covers the batch only: export it with fixed sizes");
        }
      }
      batched.add(input);
    }
    return batched;
  }

  /** {@code p}, made by TensorRT, owned and pushed on {@code made}; refuses a null. */
  private static <P extends Pointer> P owned(Deque<Pointer> made, P p, Supplier<P> template,
      String what, TensorRtLog book, long mark) {
    if (p == null || p.isNull()) {
      throw new IllegalStateException("TensorRT made no " + what + saidSince(book, mark));
    }
    made.push(NativeDelete.own(p, template));
    return p;
  }

  /** Deletes what a build made, last first; a failure is logged, the rest still freed. */
  private static void free(Deque<Pointer> made) {
    while (!made.isEmpty()) {
      Pointer p = made.pop();
      try {
        p.close();
      } catch (RuntimeException e) {
        LOG.warn("TensorRT's {} could not be freed: {}", p.getClass().getSimpleName(), e);
      }
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

  /** The kMIN, kOPT and kMAX shapes of {@code input}: its dimensions with these batches. */
  private static void setBatches(IOptimizationProfile profile, ITensor input, int min, int opt,
      int max, TensorRtLog book, long mark) {
    Dims64 dims = input.getDimensions();
    setBatch(profile, input.getName(), nvinfer.OptProfileSelector.kMIN, dims, min, book, mark);
    setBatch(profile, input.getName(), nvinfer.OptProfileSelector.kOPT, dims, opt, book, mark);
    setBatch(profile, input.getName(), nvinfer.OptProfileSelector.kMAX, dims, max, book, mark);
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
