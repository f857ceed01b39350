import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.tensorrt.global.nvinfer;
import org.bytedeco.tensorrt.global.nvonnxparser;
import org.bytedeco.tensorrt.nvinfer.Dims64;
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
 * Issue #22, routes 2 and 4 on the GPU machine, with TensorRT 10.x through JavaCPP 1.5.13 (the
 * version NOS ships). Outside NOS on purpose: it loads exactly the libraries named in
 * -Dtrt.libs (in order, System.load; JavaCPP's own loading is off, so the CUDA presets that the
 * TensorRT presets inherit are not needed) and prints every message TensorRT logs.
 *
 *   build ONNX PLAN   parse the digit model's ONNX, one profile over batch 1..32, build, write
 *   load PLAN         deserialize a plan (version-compatible ones too) and make a context
 *   infer PLAN X Y N  deserialize, then for batches 1, 8 and N: input rows of X (raw float32,
 *                     [N, 1, 8, 8]) copied to device memory (cudaMalloc of the CUDA presets in
 *                     -Dtrt.libs: libcudart, libjnicudart), setInputShape, setTensorAddress,
 *                     enqueueV3 on a stream of its own, outputs compared with Y (the TorchScript
 *                     model's outputs on the same rows, raw float32 [N, classes]); then the
 *                     mean time of 200 enqueues at batch N
 *
 * Prints "ROUTE RESULT: ..." last; exit 0 when the step worked, 1 when TensorRT refused.
 * Compiled on the developer machine (scripts/gpu/trt-routes-pack.sh): the GPU machine has a JRE.
 */
public final class TrtRoute10 {
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
    System.out.println("TensorRT " + v + " (JavaCPP 1.5.13 presets), mode " + args[0]);
    Printer logger = new Printer();
    logger.retainReference();
    boolean ok = args[0].equals("build") ? build(logger, Path.of(args[1]), Path.of(args[2]))
        : args[0].equals("infer") ? infer(logger, Path.of(args[1]), Path.of(args[2]),
            Path.of(args[3]), Integer.parseInt(args[4]))
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
    INetworkDefinition network = builder.createNetworkV2(0);
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
    if (Boolean.getBoolean("trt.fp16")) {
      config.setFlag(nvinfer.BuilderFlag.kFP16);
    }
    IOptimizationProfile profile = builder.createOptimizationProfile();
    String input = network.getInput(0).getName();
    Dims64 dims = network.getInput(0).getDimensions();
    int[][] batches = {{1}, {8}, {32}};
    nvinfer.OptProfileSelector[] which = {nvinfer.OptProfileSelector.kMIN,
        nvinfer.OptProfileSelector.kOPT, nvinfer.OptProfileSelector.kMAX};
    for (int s = 0; s < 3; s++) {
      Dims64 shape = new Dims64();
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

  static boolean infer(Printer logger, Path plan, Path x, Path y, int rows) throws Exception {
    byte[] bytes = Files.readAllBytes(plan);
    IRuntime runtime = nvinfer.createInferRuntime(logger);
    BytePointer data = new BytePointer(bytes.length);
    data.put(bytes);
    ICudaEngine engine = runtime.deserializeCudaEngine(data, bytes.length);
    if (engine == null || engine.isNull()) {
      System.out.println("ROUTE RESULT: " + plan + " did not deserialize");
      return false;
    }
    IExecutionContext context = engine.createExecutionContext();
    String in = null;
    String out = null;
    for (int i = 0; i < engine.getNbIOTensors(); i++) {
      String name = engine.getIOTensorName(i);
      if (engine.getTensorIOMode(name).value == nvinfer.TensorIOMode.kINPUT.value) { // JNI enums: compare values
        in = name;
      } else {
        out = name;
      }
    }
    float[] input = floats(x);
    float[] expected = floats(y);
    int perRow = input.length / rows;
    int classes = expected.length / rows;
    Pointer dIn = new Pointer();
    Pointer dOut = new Pointer();
    check(cudart.cudaMalloc(dIn, 4L * input.length), "cudaMalloc input");
    check(cudart.cudaMalloc(dOut, 4L * expected.length), "cudaMalloc output");
    check(cudart.cudaMemcpy(dIn, new FloatPointer(input), 4L * input.length,
        cudart.cudaMemcpyHostToDevice), "cudaMemcpy input");
    CUstream_st stream = new CUstream_st();
    check(cudart.cudaStreamCreate(stream), "cudaStreamCreate");
    double worst = 0;
    boolean ok = true;
    for (int batch : new int[] {1, 8, rows}) {
      Dims64 shape = new Dims64();
      shape.nbDims(4);
      shape.d(0, batch);
      shape.d(1, 1);
      shape.d(2, 8);
      shape.d(3, 8);
      ok &= context.setInputShape(in, shape);
      ok &= context.setTensorAddress(in, dIn);
      ok &= context.setTensorAddress(out, dOut);
      ok &= context.enqueueV3(stream);
      check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
      FloatPointer host = new FloatPointer((long) batch * classes);
      check(cudart.cudaMemcpy(host, dOut, 4L * batch * classes, cudart.cudaMemcpyDeviceToHost),
          "cudaMemcpy output");
      double diff = 0;
      for (int i = 0; i < batch * classes; i++) {
        diff = Math.max(diff, Math.abs(host.get(i) - expected[i]));
      }
      System.out.printf("batch %d: max |TensorRT - TorchScript| = %.3g (%d outputs)%n", batch,
          diff, batch * classes);
      worst = Math.max(worst, diff);
    }
    long t0 = System.nanoTime();
    for (int i = 0; i < 200; i++) {
      context.enqueueV3(stream);
    }
    check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    double micros = (System.nanoTime() - t0) / 1e3 / 200;
    System.out.printf("ROUTE RESULT: %s ran on the device: %s; worst max abs difference to"
        + " TorchScript %.3g over batches 1, 8, %d (%d inputs a row); %.1f us per enqueue at"
        + " batch %d%n", plan.getFileName(), ok ? "every call accepted" : "SOME CALL REFUSED",
        worst, rows, perRow, micros, rows);
    return ok;
  }

  static void check(int status, String what) {
    if (status != 0) {
      throw new IllegalStateException(what + " failed: CUDA error " + status);
    }
  }

  static float[] floats(Path file) throws Exception {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    float[] f = new float[b.remaining() / 4];
    b.asFloatBuffer().get(f);
    return f;
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
