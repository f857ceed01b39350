package ai.nos.internal.torch;

import ai.nos.Device;
import ai.nos.DeviceUnavailableException;
import ai.nos.NosException;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The process-wide libtorch: loads the native libraries once, says which devices exist, and turns
 * a spec's device preference into a concrete device, loudly refusing what is not there.
 *
 * <p>Thread-safe. The first call loads the natives (about 5 s the first time on a machine, while
 * JavaCPP unpacks them into its cache); a failure is remembered and rethrown with the same message.
 *
 * <h2>Process-wide libtorch state</h2>
 * libtorch keeps its settings in one global context per process, shared with any other user of
 * libtorch in the JVM. NOS sets three things there, once, when it loads the natives, and never
 * again:
 * <ul>
 *   <li>TF32 off for cuDNN and cuBLAS (CUDA natives only): fp32 stays fp32.
 *   <li>NNPACK off. On a CPU where NNPACK cannot start (this project's 2-core AMD EPYC VM, though
 *       it has AVX2), libtorch tries it again on every convolution and writes
 *       {@code "Could not initialize NNPACK! Reason: Unsupported hardware."} to the process's
 *       stderr each time, past SLF4J: two lines per call of the digit CNN, 76,934 lines in one JMH
 *       run. The line comes from c10's {@code LOG(WARNING)}, not from {@code TORCH_WARN}, so
 *       c10's warning handler never sees it (and the presets cannot subclass that handler from
 *       Java anyway); the check reads {@code userEnabledNNPACK} first, so turning NNPACK off is
 *       what stops it. No kernel choice changes: libtorch asks NNPACK only about a float
 *       convolution oneDNN declined, which on the digit CNN is a call of one row (oneDNN took
 *       every call of 2, 16 and 64 rows: no NNPACK line), and NNPACK takes only 16 rows or more.
 *   <li>JavaCPP's per-allocation RSS check off unless the application set a limit (see
 *       {@link #turnJavaCppRssCheckOff()}).
 * </ul>
 */
public final class TorchRuntime {
  private static final Logger LOG = LoggerFactory.getLogger(TorchRuntime.class);

  private static volatile boolean loaded;
  private static volatile NosException loadFailure;
  private static boolean cudaBuild;
  private static int cudaDevices;
  private static volatile boolean[] cudaReady = new boolean[0];

  private TorchRuntime() {}

  /** Loads libtorch's natives if needed. */
  public static void ensureLoaded() {
    if (loaded) {
      return;
    }
    synchronized (TorchRuntime.class) {
      if (loaded) {
        return;
      }
      if (loadFailure != null) {
        throw loadFailure;
      }
      long t0 = System.nanoTime();
      boolean rssCheckOff = turnJavaCppRssCheckOff();
      try {
        Loader.load(torch.class);
        cudaBuild = torch.hasCUDA();
        cudaDevices = cudaBuild && torch.cuda_is_available() ? torch.cuda_device_count() : 0;
        cudaReady = new boolean[cudaDevices];
        torch.globalContext().setUserEnabledNNPACK(false);
        if (cudaBuild) {
          // fp32 means fp32: libtorch lets cuDNN convolutions use TF32 by default, which moves
          // results by ~1e-3. Faster, lower precisions are a spec's explicit choice. Not reached
          // by this flag: a torch.jit.trace records the tracing moment's cudnn.allow_tf32 as each
          // aten::_convolution's cudnn_tf32 argument; TracedTf32 rewrites it at an fp32 load.
          torch.globalContext().setAllowTF32CuDNN(false);
          torch.globalContext().setAllowTF32CuBLAS(false);
        }
      } catch (UnsatisfiedLinkError | RuntimeException e) {
        loadFailure = new NosException("libtorch's native libraries could not be loaded on "
            + Loader.getPlatform() + ": " + e.getMessage() + ". The CPU natives come with"
            + " nos-core (org.bytedeco:pytorch:linux-x86_64); the CUDA natives"
            + " (linux-x86_64-gpu) also need CUDA 13 libraries, from a CUDA install on the"
            + " library path or from org.bytedeco:cuda-redist (see README, GPU).", e);
        throw loadFailure;
      }
      LOG.info("libtorch loaded in {} ms ({} natives, {} CUDA device(s); NNPACK off, see"
          + " TorchRuntime)", (System.nanoTime() - t0) / 1_000_000,
          cudaBuild ? "CUDA" : "CPU-only", cudaDevices);
      if (rssCheckOff && org.bytedeco.javacpp.Pointer.maxPhysicalBytes() > 0) {
        LOG.warn("JavaCPP was set up before NOS and reads the process's RSS on every native"
            + " object NOS makes (about 4x the cost of a small call); start the JVM with"
            + " -D{}=0", MAX_PHYSICAL_BYTES);
      }
      loaded = true;
    }
  }

  /** JavaCPP's limit on the process's RSS, read by {@code Pointer}'s static initializer. */
  static final String MAX_PHYSICAL_BYTES = "org.bytedeco.javacpp.maxPhysicalBytes";

  /**
   * Turns JavaCPP's process-wide RSS limit off unless the application set one: with a limit, every
   * native object JavaCPP makes reads the process's resident size first (a call of the identity
   * model on the CPU: 37 us with it, 8 us without), and NOS frees what a call makes at the end of
   * the call, so it never needs the collector that limit calls on. It also keeps a GPU process,
   * whose CUDA libraries alone exceed a small heap's 4x, from failing allocations. Returns
   * whether NOS set it; it takes effect only if JavaCPP was not set up yet.
   */
  private static boolean turnJavaCppRssCheckOff() {
    if (System.getProperty(MAX_PHYSICAL_BYTES) != null
        || System.getProperty(MAX_PHYSICAL_BYTES.toLowerCase(java.util.Locale.ROOT)) != null) {
      return false;
    }
    System.setProperty(MAX_PHYSICAL_BYTES, "0");
    return true;
  }

  private static volatile String[] versions;

  /** libtorch's version, e.g. {@code 2.10.0}, from the natives' own build settings. */
  public static String libtorchVersion() {
    return versions()[0];
  }

  /**
   * The CUDA version the natives were built for, e.g. {@code 13.1}; null with CPU-only natives.
   * Read from the natives, so CUDA natives say it on a machine without a GPU or driver too (where
   * {@link #hasCudaNatives()}, which asks libtorch whether CUDA is usable, says false).
   */
  public static String cudaVersion() {
    return versions()[1];
  }

  private static String[] versions() {
    String[] v = versions;
    if (v == null) {
      ensureLoaded();
      String config;
      try (PointerScope scope = new PointerScope()) {
        config = torch.show_config().getString();
      } catch (RuntimeException e) {
        LOG.warn("libtorch's build settings could not be read ({}); its version comes from the"
            + " presets' jar instead", e.toString());
        config = "";
      }
      v = new String[] {libtorchVersion(config, presetsVersion()), cudaVersion(config)};
      // A race computes the same strings twice; either copy may stay.
      versions = v;
    }
    return v;
  }

  /** The presets' jar version, e.g. {@code 2.10.0-1.5.13}: libtorch's, then JavaCPP's. */
  private static String presetsVersion() {
    return torch.class.getPackage().getImplementationVersion();
  }

  /**
   * libtorch's version from its {@code show_config()} text ({@code TORCH_VERSION=2.10.0} among its
   * build settings), else from the presets' version (libtorch's before the '-'), else "unknown".
   */
  static String libtorchVersion(String config, String presets) {
    String v = buildSetting(config, "TORCH_VERSION");
    if (v != null) {
      return v;
    }
    if (presets != null && !presets.isBlank()) {
      int dash = presets.indexOf('-');
      return dash > 0 ? presets.substring(0, dash) : presets;
    }
    return "unknown";
  }

  /**
   * The CUDA version from the natives' {@code show_config()}: {@code CUDA_VERSION=13.1} among the
   * build settings (CPU natives have none), else a {@code "CUDA Runtime 13.1"} line, else null.
   */
  static String cudaVersion(String config) {
    String v = buildSetting(config, "CUDA_VERSION");
    if (v != null) {
      return v;
    }
    for (String line : config.split("\n")) {
      String l = line.strip();
      if (l.startsWith("- CUDA Runtime ")) {
        return l.substring("- CUDA Runtime ".length()).strip();
      }
    }
    return null;
  }

  /** A {@code KEY=value} of show_config()'s "Build settings" line; null when absent or empty. */
  private static String buildSetting(String config, String key) {
    for (String line : config.split("\n")) {
      int at = line.indexOf("Build settings:");
      if (at < 0) {
        continue;
      }
      for (String setting : line.substring(at + "Build settings:".length()).split(",")) {
        String s = setting.strip();
        if (s.startsWith(key + "=")) {
          String value = s.substring(key.length() + 1).strip();
          return value.isEmpty() ? null : value;
        }
      }
    }
    return null;
  }

  /** Whether the libtorch natives on the classpath were built with CUDA. */
  public static boolean hasCudaNatives() {
    ensureLoaded();
    return cudaBuild;
  }

  /**
   * Whether libtorch is loaded already and sees a CUDA device. Never loads it: for code that may
   * run in a process that never uses libtorch (a {@link ai.nos.Tensor} made on the CPU).
   */
  public static boolean cudaLoaded() {
    return loaded && cudaDevices > 0;
  }

  /** Number of CUDA devices this process can use (0 with CPU-only natives or no driver). */
  public static int cudaDeviceCount() {
    ensureLoaded();
    return cudaDevices;
  }

  /** The devices this process can run models on: {@code cpu} first, then each CUDA device. */
  public static List<Device> devices() {
    ensureLoaded();
    List<Device> all = new ArrayList<>();
    all.add(Device.cpu());
    for (int i = 0; i < cudaDevices; i++) {
      all.add(Device.cuda(i));
    }
    return all;
  }

  /**
   * Resolves a preference to a concrete device: {@code auto} to {@code cuda:0} when CUDA is here,
   * else {@code cpu}; {@code cuda} to {@code cuda:0}.
   *
   * @throws DeviceUnavailableException if CUDA was asked for and is missing, or the index is out
   *     of range; the message says why and what to do
   */
  public static Device resolve(Device wanted, String modelId) {
    ensureLoaded();
    if (wanted.isCpu()) {
      return Device.cpu();
    }
    if (wanted.isAuto()) {
      return cudaDevices > 0 ? Device.cuda(0) : Device.cpu();
    }
    if (!cudaBuild) {
      throw new DeviceUnavailableException("model '" + modelId + "' asks for device " + wanted
          + " but the libtorch natives on the classpath are CPU-only. Use the classifier"
          + " linux-x86_64-gpu of org.bytedeco:pytorch (Maven profile 'gpu', see README), or"
          + " ask for device 'auto' or 'cpu'. NOS does not fall back to the CPU on its own.");
    }
    if (cudaDevices == 0) {
      throw new DeviceUnavailableException("model '" + modelId + "' asks for device " + wanted
          + " but no CUDA device is visible to this process (no NVIDIA driver, or"
          + " CUDA_VISIBLE_DEVICES hides them all). NOS does not fall back to the CPU on its own.");
    }
    int index = wanted.index().orElse(0);
    if (index >= cudaDevices) {
      throw new DeviceUnavailableException("model '" + modelId + "' asks for device " + wanted
          + " but this process sees " + cudaDevices + " CUDA device(s): cuda:0"
          + (cudaDevices > 1 ? "..cuda:" + (cudaDevices - 1) : ""));
    }
    return Device.cuda(index);
  }

  /**
   * Makes the calling thread's cuBLAS/cuDNN state on CUDA {@code device} before its first step,
   * once per thread and device: for a generator's scheduler thread. Returns the bytes it left
   * allocated (LibraryState's essay: a manager books them as its library bytes).
   */
  public static long prepareEngineThread(int device) {
    return LibraryState.prepareEngineThread(device);
  }

  /**
   * Waits for the work the calling thread queued on its current stream of {@code device}; does
   * nothing for the CPU, whose work is done when its call returns.
   */
  public static void synchronize(Device device) {
    if (device.isCuda()) {
      org.bytedeco.pytorch.global.torch_cuda.getCurrentCUDAStream(
          (byte) device.index().orElse(0)).synchronize();
    }
  }

  /**
   * Records {@code event} on the calling thread's current stream of CUDA {@code device}.
   *
   * @throws ai.nos.NosException naming {@code what} if CUDA refuses
   */
  public static void recordOnCurrentStream(org.bytedeco.cuda.cudart.CUevent_st event,
      Device device, String what) {
    CudaStatus.check(org.bytedeco.cuda.global.cudart.cudaEventRecord(event,
        org.bytedeco.pytorch.global.torch_cuda.getCurrentCUDAStream(
            (byte) device.index().orElse(0)).stream()), what);
  }

  /** Bytes libtorch's CUDA caching allocator holds for live tensors on a device. */
  public static long cudaAllocatedBytes(int device) {
    requireCuda(device);
    try (var stats = torch_cuda.getAllocator().getDeviceStats((byte) device)) {
      return stats.allocated_bytes().current();
    }
  }

  /** Bytes libtorch's CUDA caching allocator has reserved from the driver on a device. */
  public static long cudaReservedBytes(int device) {
    requireCuda(device);
    try (var stats = torch_cuda.getAllocator().getDeviceStats((byte) device)) {
      return stats.reserved_bytes().current();
    }
  }

  /** Peak of {@link #cudaAllocatedBytes} since the last {@link #cudaResetPeak}. */
  public static long cudaPeakAllocatedBytes(int device) {
    requireCuda(device);
    try (var stats = torch_cuda.getAllocator().getDeviceStats((byte) device)) {
      return stats.allocated_bytes().peak();
    }
  }

  /** Starts a new peak for {@link #cudaPeakAllocatedBytes}. */
  public static void cudaResetPeak(int device) {
    requireCuda(device);
    torch_cuda.getAllocator().resetPeakStats((byte) device);
  }

  /** Total memory of a CUDA device in bytes. */
  public static long cudaTotalBytes(int device) {
    requireCuda(device);
    return torch_cuda.getDeviceProperties((byte) device).totalGlobalMem();
  }

  /** The device's name and compute capability, e.g. {@code "NVIDIA H200 sm_90"}. */
  public static String cudaDeviceName(int device) {
    requireCuda(device);
    var p = torch_cuda.getDeviceProperties((byte) device);
    return p.name().getString() + " sm_" + p.major() + p.minor();
  }

  /** Returns the caching allocator's unused blocks to the driver. */
  public static void cudaEmptyCache() {
    if (cudaDeviceCount() > 0) {
      requireCuda(0);
      torch_cuda.getAllocator().emptyCache();
    }
  }

  private static void requireCuda(int device) {
    if (device < 0 || device >= cudaDeviceCount()) {
      throw new IllegalArgumentException("CUDA device index must be in [0, " + cudaDevices
          + ") but was " + device);
    }
    if (!cudaReady[device]) {
      synchronized (TorchRuntime.class) {
        if (!cudaReady[device]) {
          // The caching allocator sets up a device on its first allocation there; its
          // statistics refuse a device before that ("Invalid device argument").
          try (PointerScope scope = new PointerScope()) {
            torch.empty(new long[] {1}, new TensorOptions(new org.bytedeco.pytorch.Device(
                torch.DeviceType.CUDA, (byte) device)), new MemoryFormatOptional());
          }
          cudaReady[device] = true;
        }
      }
    }
  }

  /** libtorch's device for a concrete NOS device ({@code cpu} or {@code cuda:N}). */
  public static org.bytedeco.pytorch.Device toTorch(Device device) {
    return device.isCuda()
        ? new org.bytedeco.pytorch.Device(torch.DeviceType.CUDA, (byte) device.index().orElse(0))
        : new org.bytedeco.pytorch.Device(torch.DeviceType.CPU);
  }

  /**
   * Bytes of {@code module}'s parameters and buffers as they are now: what a copy's weights hold
   * (TorchLoader's copies, the generation engine's DecoderModel).
   */
  public static long moduleBytes(org.bytedeco.pytorch.JitModule module) {
    try (PointerScope scope = new PointerScope()) {
      long bytes = 0;
      var params = module.parameters(true);
      for (var it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
        bytes += it.access().nbytes();
      }
      var buffers = module.buffers(true);
      for (var it = buffers.begin(); it.notEquals(buffers.end()); it = it.increment()) {
        bytes += it.access().nbytes();
      }
      return bytes;
    }
  }
}
