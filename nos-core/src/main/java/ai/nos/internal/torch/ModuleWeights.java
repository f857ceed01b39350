package ai.nos.internal.torch;

import ai.nos.Device;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Block;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.Graph;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.JitNode;
import org.bytedeco.pytorch.Symbol;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * Every tensor a loaded TorchScript module computes with, and the move of all of them between a
 * device and host memory in place: how a copy is parked in the host tier and brought back.
 *
 * <h2>Which tensors</h2>
 * The module's parameters and buffers (recursively), and the tensor constants of its
 * {@code forward} graph and the blocks in it: {@code freeze} and {@code optimize_for_inference}
 * turn the weights into graph constants, out of reach of {@code JitModule.to}. Each tensor is
 * kept once (by its {@code TensorImpl}).
 *
 * <h2>In place</h2>
 * A move does not rebuild the module: each tensor's storage is replaced through
 * {@code set_data}, which changes the {@code TensorImpl} that the module, the graph and the
 * interpreter's compiled plan all share, so the next call reads the new storage with no pass or
 * recompilation. The old storage is freed when its last reference goes (the device's back to the
 * caching allocator). A tensor's sizes and strides are kept (channels-last weights stay
 * channels-last); tensors that were views of one storage come back each with its own.
 *
 * <h2>Copies</h2>
 * Off the device: into pinned host tensors from libtorch's caching host allocator
 * ({@code cudaHostAlloc}-backed, so no registration and no {@link CudaWork#exclusive}), every
 * copy queued non-blocking on the current stream, then one synchronize, then the swaps. Back: the
 * same into fresh device tensors. Runs under the caller's {@link CudaWork#shared} hold.
 *
 * <p>Not thread-safe: the owner moves it while no call runs. {@link #close()} drops the
 * references this object holds; the module owns the tensors.
 */
final class ModuleWeights implements AutoCloseable {
  private final List<Tensor> tensors;
  private final long bytes;
  /** The tensors the last {@link #toHost} moved off the device. */
  private List<Tensor> moved = List.of();

  private ModuleWeights(List<Tensor> tensors, long bytes) {
    this.tensors = tensors;
    this.bytes = bytes;
  }

  /**
   * The module's tensors, or null if one of them cannot be moved this way (sparse, quantized,
   * MKL-DNN, or without storage): such a module is not parked.
   */
  static ModuleWeights of(JitModule module) {
    List<Tensor> out = new ArrayList<>();
    Set<Long> seen = new HashSet<>();
    long total = 0;
    try (PointerScope scope = new PointerScope()) {
      List<Tensor> found = new ArrayList<>();
      var params = module.parameters(true);
      for (var it = params.begin(); it.notEquals(params.end()); it = it.increment()) {
        found.add(it.access());
      }
      var buffers = module.buffers(true);
      for (var it = buffers.begin(); it.notEquals(buffers.end()); it = it.increment()) {
        found.add(it.access());
      }
      if (module.find_method("forward").has_value()) {
        Graph graph = module.get_method("forward").graph();
        constants(graph.nodes().front(), graph.return_node(), Symbol.attr("value"), found);
      }
      for (Tensor t : found) {
        if (!t.defined()) {
          continue;
        }
        if (!t.has_storage() || t.is_sparse() || t.is_quantized() || t.is_mkldnn()) {
          for (Tensor kept : out) {
            kept.releaseReference();
          }
          return null;
        }
        if (seen.add(t.unsafeGetTensorImpl().address())) {
          t.retainReference();
          out.add(t);
          total += t.nbytes();
        }
      }
    }
    return new ModuleWeights(out, total);
  }

  /** The tensor constants of the nodes from {@code first} to {@code end}, blocks included. */
  private static void constants(JitNode first, JitNode end, Symbol value, List<Tensor> out) {
    for (JitNode n = first; n.address() != end.address(); n = n.next()) {
      // By value: the presets hand back enum instances that are not the constants themselves.
      if (n.hasAttribute(value) && n.kindOf(value).value == torch.JitAttributeKind.t.value) {
        out.add(n.t(value));
      }
      var blocks = n.blocks();
      for (long i = 0; i < blocks.size(); i++) {
        Block b = blocks.get(i);
        constants(b.nodes().front(), b.return_node(), value, out);
      }
    }
  }

  /** For tests: the tensors, each once. */
  List<Tensor> tensors() {
    return tensors;
  }

  /** Bytes of the tensors. */
  long bytes() {
    return bytes;
  }

  /** How many tensors (each kept once). */
  int count() {
    return tensors.size();
  }

  /**
   * Moves the tensors on a CUDA device into pinned host memory, in place, and remembers them for
   * {@link #toDevice}; tensors already on the host (a traced graph's constants, kept there on
   * purpose) stay. On the CPU there is nothing to move.
   */
  void toHost() {
    List<Tensor> onDevice = new ArrayList<>();
    int index = -1;
    for (Tensor t : tensors) {
      if (t.is_cuda()) {
        onDevice.add(t);
        index = t.device().index();
      }
    }
    moved = onDevice;
    if (!onDevice.isEmpty()) {
      move(onDevice, Device.cpu(), true, index);
    }
  }

  /** Moves the tensors {@link #toHost} moved onto {@code device} (any CUDA device), in place. */
  void toDevice(Device device) {
    if (!moved.isEmpty()) {
      move(moved, device, false, device.index().orElse(0));
    }
    moved = List.of();
  }

  /** For tests on the CPU: every tensor into fresh plain host memory, in place. */
  void copyAllOnHost() {
    move(tensors, Device.cpu(), false, -1);
  }

  /** Bytes the last {@link #toHost} moved. */
  long movedBytes() {
    long b = 0;
    for (Tensor t : moved) {
      b += t.nbytes();
    }
    return b;
  }

  private static void move(List<Tensor> which, Device device, boolean pinned, int cudaIndex) {
    try (PointerScope scope = new PointerScope();
        org.bytedeco.pytorch.Device where = TorchRuntime.toTorch(device)) {
      List<Tensor> fresh = new ArrayList<>(which.size());
      for (Tensor t : which) {
        TensorOptions options = new TensorOptions(t.scalar_type())
            .device(new DeviceOptional(where))
            .pinned_memory(new BoolOptional(pinned));
        Tensor copy = torch.empty_strided(t.sizes().vec().get(), t.strides().vec().get(),
            options);
        copy.copy_(t, cudaIndex >= 0);
        fresh.add(copy);
      }
      if (cudaIndex >= 0) {
        torch_cuda.getCurrentCUDAStream((byte) cudaIndex).synchronize();
      }
      for (int i = 0; i < which.size(); i++) {
        which.get(i).__dispatch_set_data(fresh.get(i));
      }
    }
  }

  @Override
  public void close() {
    for (Tensor t : tensors) {
      t.releaseReference();
    }
    tensors.clear();
  }
}
