/* dlopen of each library named, in order, timed (issue 20 item 5: the dynamic link of libtorch
 * apart from JavaCPP's Java-side work). Built and run by scripts/bench/native-load.sh:
 *   dlopen_times LIB...   prints "dlopen NAME MS" per library and "dlopen total MS". */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  double start = now_ms();
  for (int i = 1; i < argc; i++) {
    double a = now_ms();
    void *h = dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL);
    double b = now_ms();
    const char *name = strrchr(argv[i], '/');
    if (h == NULL) {
      fprintf(stderr, "dlopen %s failed: %s\n", argv[i], dlerror());
      return 1;
    }
    printf("dlopen %s %.1f\n", name ? name + 1 : argv[i], b - a);
  }
  printf("dlopen total %.1f\n", now_ms() - start);
  return 0;
}
