package ai.nos.spark;

import ai.nos.Device;
import ai.nos.Model;
import ai.nos.ModelManager;
import ai.nos.ModelSpec;
import ai.nos.Nos;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.util.CollectionAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * The models of one executor JVM.
 *
 * One copy per JVM
 * ----------------
 * Every task of an executor runs in the same JVM; loading the model per task (or per partition,
 * as a plain mapPartitions does) pays the load and the memory once per task slot. Here the copies
 * live in a static map keyed by the spec as loaded (device and fetched artifact included), behind
 * the process-wide ModelManager (ModelManager.getDefault(), the one Nos.load uses): placement by
 * measured memory, eviction of idle models, and batching threads are the manager's. The handles
 * are never closed: they live as long as the executor, which is what Spark's executors are for;
 * the manager may still evict an idle copy when another model needs the room, and reloads it on
 * its next call.
 *
 * Concurrency
 * -----------
 * A map entry is a Loading holder made with computeIfAbsent (cheap, never blocks the map); the
 * load itself runs inside the holder's own lock, so tasks asking for the same copy wait for the
 * one load while tasks of other models go on. A failed load leaves the entry empty and the next
 * task tries again (the failing task fails and Spark retries it, on this executor or another).
 *
 * Ids
 * ---
 * The manager holds one spec per id and refuses a second spec under an id it holds. Two specs of
 * one id meet in one JVM often: a model retrained into the same file (another digest, so another
 * shipped name), the same model with shipping on and then off, or, in local mode, the driver's own
 * Nos.load of the spec beside the executor's copy of its shipped file. The first copy keeps the
 * spec's id; a later spec whose id the manager already holds loads under the id with "-" and 12 hex
 * digits of the SHA-256 of its JSON appended, the same for the same spec on every task. An id too
 * long for the suffix within ModelSpec's 128 characters is cut to make room (an id of 128 was
 * refused as 141 characters).
 *
 * Devices
 * -------
 * A task uses the GPUs Spark's resource scheduling gave it (TaskContext.resources() "gpu", set by
 * spark.executor.resource.gpu.amount and spark.task.resource.gpu.amount): address N is CUDA
 * device N of this process. A task with several GPUs gets a copy on each and spreads its batches
 * over them. A task without GPUs runs the spec's device when the spec names one (cpu or cuda:N)
 * and the CPU when it says auto; if this process sees CUDA devices then, it says so once, loudly,
 * because a GPU left idle by a missing Spark setting is the commonest mistake.
 */
final class ExecutorModels {
  private static final Logger LOG = LoggerFactory.getLogger(ExecutorModels.class);
  /** The longest id ModelSpec accepts. */
  static final int MAX_ID_LENGTH = 128;
  private static final Map<ModelSpec, Loading> COPIES = new ConcurrentHashMap<>();
  private static volatile boolean warnedIdleGpu;

  private ExecutorModels() {}

  /** The copies this task uses, loading those missing; each load is added to {@code loads}. */
  static List<Model> forTask(ShippedSpec shipped, CollectionAccumulator<ModelLoad> loads) {
    ModelSpec spec = shipped.resolve();
    List<Model> out = new ArrayList<>();
    for (Device d : devicesOfTask(spec)) {
      ModelSpec placed = place(spec, d);
      out.add(COPIES.computeIfAbsent(placed, Loading::new).get(loads));
    }
    return out;
  }

  /** How many copies this JVM holds (for tests and logs). */
  static int copies() {
    return (int) COPIES.values().stream().filter(l -> l.model != null).count();
  }

  static List<Device> devicesOfTask(ModelSpec spec) {
    TaskContext tc = TaskContext.get();
    Map<String, ResourceInformation> res = tc == null ? Map.of() : tc.resourcesJMap();
    ResourceInformation gpus = res.get("gpu");
    if (gpus != null && gpus.addresses().length > 0) {
      List<Device> out = new ArrayList<>();
      for (String a : gpus.addresses()) {
        try {
          out.add(Device.cuda(Integer.parseInt(a.trim())));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("Spark gave this task GPU address '" + a + "' (all: "
              + String.join(",", gpus.addresses()) + "); NOS needs CUDA device ordinals as"
              + " addresses (the discovery script's output)", e);
        }
      }
      return out;
    }
    if (!spec.device().isAuto()) {
      return List.of(spec.device());
    }
    if (!warnedIdleGpu && Nos.devices().stream().anyMatch(Device::isCuda)) {
      warnedIdleGpu = true;
      LOG.warn("model '{}' runs on the CPU of executor {}: Spark gave its task no GPU although this"
          + " process sees {}; set spark.executor.resource.gpu.amount and"
          + " spark.task.resource.gpu.amount, or name a device in the spec", spec.id(),
          executorId(), Nos.devices());
    }
    return List.of(Device.cpu());
  }

  /**
   * The spec of the copy on {@code device}. A GPU copy gets the device in its id: the manager
   * holds one spec per id, and two tasks of one executor may hold different GPUs. An id too long
   * for that is cut as in {@link #suffixedId} (two ids that then meet are told apart by it).
   */
  static ModelSpec place(ModelSpec spec, Device device) {
    ModelSpec.Builder b = spec.toBuilder().device(device).replicas(1);
    if (device.isCuda()) {
      b.id(withSuffix(spec.id(), "-cuda" + device.index().getAsInt()));
    }
    return b.build();
  }

  static String executorId() {
    SparkEnv env = SparkEnv.get();
    return env == null ? "none" : env.executorId();
  }

  /** Loads {@code spec}, under another id if the manager holds its id with another spec. */
  static Model load(ModelSpec spec) {
    ModelManager manager = ModelManager.getDefault();
    try {
      return manager.load(spec);
    } catch (IllegalStateException e) {
      if (manager.models().stream().noneMatch(m -> m.id().equals(spec.id()))) {
        throw e;
      }
      return manager.load(spec.toBuilder().id(suffixedId(spec)).build());
    }
  }

  /**
   * The id of {@code spec} when the manager holds its id with another spec: the id, cut where
   * needed so that the whole fits {@link #MAX_ID_LENGTH} (trailing '/' dropped, which may not
   * precede '-'), then "-" and 12 hex digits of the SHA-256 of the spec's JSON.
   */
  static String suffixedId(ModelSpec spec) {
    String digest = ShippedSpec.sha256(spec.toJson().getBytes(StandardCharsets.UTF_8));
    return withSuffix(spec.id(), "-" + digest.substring(0, 12));
  }

  /** {@code base + suffix}, the base cut so that the whole fits {@link #MAX_ID_LENGTH}. */
  private static String withSuffix(String base, String suffix) {
    if (base.length() + suffix.length() > MAX_ID_LENGTH) {
      base = base.substring(0, MAX_ID_LENGTH - suffix.length());
    }
    int end = base.length();
    while (end > 1 && base.charAt(end - 1) == '/') {
      end--;
    }
    return base.substring(0, end) + suffix;
  }

  private static final class Loading {
    private final ModelSpec spec;
    private volatile Model model;

    Loading(ModelSpec spec) {
      this.spec = spec;
    }

    Model get(CollectionAccumulator<ModelLoad> loads) {
      Model m = model;
      if (m != null) {
        return m;
      }
      synchronized (this) {
        if (model == null) {
          long t0 = System.nanoTime();
          Model loaded = load(spec);
          long ms = (System.nanoTime() - t0) / 1_000_000;
          String id = loaded.spec().id();
          LOG.info("executor {} loaded model '{}' on {} in {} ms", executorId(), id,
              loaded.device(), ms);
          if (loads != null) {
            loads.add(new ModelLoad(executorId(), id, loaded.device().toString(), ms));
          }
          model = loaded;
        }
        return model;
      }
    }
  }
}
