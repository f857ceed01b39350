package ai.nos.internal.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Reading versions out of libtorch's show_config() text, as the CPU and CUDA natives write it. */
final class TorchRuntimeVersionsTest {

  /** The CPU natives' text, shortened. */
  static final String CPU = "PyTorch built with:\n  - GCC 11.4\n  - C++ Version: 201703\n"
      + "  - NNPACK is enabled\n  - CPU capability usage: AVX512\n"
      + "  - Build settings: BLAS_INFO=open, BUILD_TYPE=Release, COMMIT_SHA=449b17, "
      + "CXX_FLAGS=-O2 -fPIC -DC10_NODEPRECATED, LAPACK_INFO=open, PERF_WITH_AVX=1, "
      + "TORCH_VERSION=2.10.0, USE_CUDA=0, USE_CUDNN=OFF, USE_NNPACK=ON, \n";

  /**
   * The CUDA natives' text (shortened) on a machine without a driver: CUDA's versions among the
   * build settings; with a driver, libtorch adds lines such as "CUDA Runtime 13.1".
   */
  static final String CUDA = "PyTorch built with:\n  - GCC 11.4\n  - NNPACK is enabled\n"
      + "  - Build settings: BLAS_INFO=open, BUILD_TYPE=Release, COMMIT_SHA=449b17, "
      + "CUDA_VERSION=13.1, CUDNN_VERSION=9.19.0, CXX_COMPILER=/usr/bin/g++, "
      + "TORCH_VERSION=2.10.0, USE_CUDA=ON, USE_CUDNN=ON, \n";

  @Test
  void libtorchVersion_fromTheBuildSettings_elseThePresets_elseUnknown() {
    assertEquals("2.10.0", TorchRuntime.libtorchVersion(CPU, "9.9.9-1.5.13"));
    assertEquals("2.10.0", TorchRuntime.libtorchVersion(CUDA, null));
    assertEquals("2.10.0", TorchRuntime.libtorchVersion("", "2.10.0-1.5.13"));
    assertEquals("2.10.0", TorchRuntime.libtorchVersion("  - Build settings: TORCH_VERSION=, ",
        "2.10.0-1.5.13"));
    assertEquals("unknown", TorchRuntime.libtorchVersion("", null));
  }

  @Test
  void cudaVersion_fromTheBuildSettings_elseTheRuntimeLine_elseUnknown() {
    assertEquals("13.1", TorchRuntime.cudaVersion(CUDA));
    assertEquals("12.8", TorchRuntime.cudaVersion("PyTorch built with:\n  - CUDA Runtime 12.8\n"
        + "  - Build settings: TORCH_VERSION=2.10.0, \n"));
    assertEquals(null, TorchRuntime.cudaVersion(CPU));
  }

  @Test
  void theLoadedNatives_sayTheirVersion() {
    assertEquals(TorchRuntime.libtorchVersion(),
        TorchRuntime.libtorchVersion(org.bytedeco.pytorch.global.torch.show_config().getString(),
            null));
  }
}
