import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.tensorrt.global.nvinfer;
import org.bytedeco.tensorrt.global.nvonnxparser;
import org.bytedeco.tensorrt.nvinfer.Dims32;
import org.bytedeco.tensorrt.nvinfer.IBuilder;
import org.bytedeco.tensorrt.nvinfer.IBuilderConfig;
import org.bytedeco.tensorrt.nvinfer.ICudaEngine;
import org.bytedeco.tensorrt.nvinfer.IExecutionContext;
import org.bytedeco.tensorrt.nvinfer.IHostMemory;
import org.bytedeco.tensorrt.nvinfer.ILogger;
import org.bytedeco.tensorrt.nvinfer.INetworkDefinition;
import org.bytedeco.tensorrt.nvinfer.IOptimizationProfile;
import org.bytedeco.tensorrt.nvinfer.IRuntime;
import org.bytedeco.tensorrt.nvonnxparser.IParser;

/**
 * Issue #22, routes 2 and 4 on the GPU machine, with TensorRT 8.6 through JavaCPP 1.5.10 (the
 * last presets of 8.6, whose redist carries one builder resource for every GPU, sm_90 included). Outside NOS on purpose: it loads exactly the libraries named in
 * -Dtrt.libs (in order, System.load; JavaCPP's own loading is off, so the CUDA presets that the
 * TensorRT presets inherit are not needed) and prints every message TensorRT logs.
 *
 *   build ONNX PLAN   parse the digit model's ONNX, one profile over batch 1..32, build, write
 *   load PLAN         deserialize a plan (version-compatible ones too) and make a context
 *
 * Prints "ROUTE RESULT: ..." last; exit 0 when the step worked, 1 when TensorRT refused.
 * Compiled on the developer machine (scripts/gpu/trt-routes-pack.sh): the GPU machine has a JRE.
 */
public final class TrtRoute86 {
  static final class Printer extends ILogger {
    int errors;

    @Override
    public void log(Severity severity, String message) {
      int v = severity == null ? 1 : severity.value; // JNI's Severity is not the constant
      if (v <= 1) {
        errors++;
      }
      if (v <= Integer.getInteger("trt.verbosity", 3)) {
        System.out.println("[TRT " + (v < 0 || v > 4 ? "?" : new String[] {"INTERNAL_ERROR",
            "ERROR", "WARNING", "INFO", "VERBOSE"}[v]) + "] " + message);
      }
    }
  }

  public static void main(String[] args) throws Exception {
    for (String lib : System.getProperty("trt.libs", "").split(":")) {
      if (!lib.isBlank()) {
        System.load(lib);
      }
    }
    int v = nvinfer.getInferLibVersion();
    System.out.println("TensorRT " + v + " (JavaCPP 1.5.10 presets), mode " + args[0]);
    Printer logger = new Printer();
    logger.retainReference();
    boolean ok = args[0].equals("build") ? build(logger, Path.of(args[1]), Path.of(args[2]))
        : load(logger, Path.of(args[1]));
    System.exit(ok ? 0 : 1);
  }

  static boolean build(Printer logger, Path onnx, Path plan) throws Exception {
    long t0 = System.nanoTime();
    IBuilder builder = nvinfer.createInferBuilder(logger);
    if (builder == null || builder.isNull()) {
      System.out.println("ROUTE RESULT: createInferBuilder returned null");
      return false;
    }
    INetworkDefinition network = builder.createNetworkV2(1 << nvinfer.NetworkDefinitionCreationFlag.kEXPLICIT_BATCH.value);
    IParser parser = nvonnxparser.createParser(network, logger);
    if (!parser.parseFromFile(onnx.toString(), ILogger.Severity.kWARNING.value)) {
      for (int i = 0; i < parser.getNbErrors(); i++) {
        System.out.println("[ONNX] " + parser.getError(i).desc());
      }
      System.out.println("ROUTE RESULT: ONNX parse failed");
      return false;
    }
    IBuilderConfig config = builder.createBuilderConfig();
    config.setMemoryPoolLimit(nvinfer.MemoryPoolType.kWORKSPACE, 1L << 30);
    // libnvinfer_plugin (which the ONNX parser needs) links cuBLAS, cuBLASLt and cuDNN of
    // CUDA 12, which the machine lacks: stubs satisfy the loader, so no tactic may use them.
    config.setTacticSources((1 << nvinfer.TacticSource.kEDGE_MASK_CONVOLUTIONS.value)
        | (1 << nvinfer.TacticSource.kJIT_CONVOLUTIONS.value));
    if (Boolean.getBoolean("trt.vc")) {
      // Version-compatible: the plan embeds 8.6's lean runtime, for route 4 (10.15 loads it).
      config.setFlag(nvinfer.BuilderFlag.kVERSION_COMPATIBLE);
    }
    if (Boolean.getBoolean("trt.fp16")) {
      config.setFlag(nvinfer.BuilderFlag.kFP16);
    }
    IOptimizationProfile profile = builder.createOptimizationProfile();
    String input = network.getInput(0).getName();
    Dims32 dims = network.getInput(0).getDimensions();
    int[][] batches = {{1}, {8}, {32}};
    nvinfer.OptProfileSelector[] which = {nvinfer.OptProfileSelector.kMIN,
        nvinfer.OptProfileSelector.kOPT, nvinfer.OptProfileSelector.kMAX};
    for (int s = 0; s < 3; s++) {
      Dims32 shape = new Dims32();
      shape.nbDims(dims.nbDims());
      shape.d(0, batches[s][0]);
      for (int d = 1; d < dims.nbDims(); d++) {
        shape.d(d, dims.d(d));
      }
      profile.setDimensions(input, which[s], shape);
    }
    config.addOptimizationProfile(profile);
    IHostMemory engine = builder.buildSerializedNetwork(network, config);
    double seconds = (System.nanoTime() - t0) / 1e9;
    if (engine == null || engine.isNull() || engine.size() == 0) {
      System.out.printf("ROUTE RESULT: no engine after %.1f s (%d errors logged)%n", seconds,
          logger.errors);
      return false;
    }
    write(engine.data(), engine.size(), plan);
    System.out.printf("ROUTE RESULT: engine built in %.1f s, %d bytes -> %s%n", seconds,
        engine.size(), plan);
    return true;
  }

  static boolean load(Printer logger, Path plan) throws Exception {
    byte[] bytes = Files.readAllBytes(plan);
    IRuntime runtime = nvinfer.createInferRuntime(logger);
    // A version-compatible plan carries its own lean runtime: host code TensorRT must run.
    runtime.setEngineHostCodeAllowed(true);
    BytePointer data = new BytePointer(bytes.length);
    data.put(bytes);
    ICudaEngine engine = runtime.deserializeCudaEngine(data, bytes.length);
    if (engine == null || engine.isNull()) {
      System.out.println("ROUTE RESULT: " + plan + " (" + bytes.length
          + " bytes) did not deserialize (" + logger.errors + " errors logged)");
      return false;
    }
    StringBuilder io = new StringBuilder();
    for (int i = 0; i < engine.getNbIOTensors(); i++) {
      io.append(' ').append(engine.getIOTensorName(i));
    }
    IExecutionContext context = engine.createExecutionContext();
    boolean made = context != null && !context.isNull();
    System.out.println("ROUTE RESULT: " + plan + " deserialized; tensors" + io
        + "; execution context " + (made ? "made" : "NOT made"));
    return made;
  }

  static void write(Pointer data, long size, Path plan) throws Exception {
    BytePointer bytes = new BytePointer(data).capacity(size);
    try (FileChannel out = FileChannel.open(plan, StandardOpenOption.CREATE,
        StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
      ByteBuffer b = bytes.asByteBuffer();
      while (b.hasRemaining()) {
        out.write(b);
      }
    }
  }
}
