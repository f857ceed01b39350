import java.io.File;
import java.net.URL;
import java.util.*;
import org.bytedeco.javacpp.ClassProperties;
import org.bytedeco.javacpp.Loader;

/** Times Class.forName(init) of preset classes in the given order, fresh JVM; with "split",
 * first replicates Loader.load's steps on the next class (uninitialized) and times each step. */
public final class InitCost {
  public static void main(String[] args) throws Exception {
    boolean split = args[0].equals("split");
    ClassLoader cl = InitCost.class.getClassLoader();
    long t0 = System.nanoTime();
    Class.forName("org.bytedeco.pytorch.global.torch", true, cl);
    System.out.printf("global.torch %.2f ms%n", (System.nanoTime() - t0) / 1e6);
    boolean listed = false;
    for (int i = 1; i < args.length; i++) {
      String n = args[i];
      if (split) {
        Class<?> c = Class.forName(n, false, cl);
        long a = System.nanoTime();
        Properties props = Loader.loadProperties();
        boolean ok = Loader.checkPlatform(c, props, props.getProperty("platform.extension") == null);
        long b = System.nanoTime();
        Class<?> enc = Loader.getEnclosingClass(c);
        ClassProperties p = Loader.loadProperties(enc, props, true);
        long d = System.nanoTime();
        List<String> preloads = new ArrayList<>(p.get("platform.preload"));
        preloads.addAll(p.get("platform.link"));
        String cacheDir = Loader.getCacheDir().toString();
        long find = 0, load = 0, link = 0, failTime = 0;
        List<String> failed = new ArrayList<>();
        List<String> preloaded = new ArrayList<>();
        for (String pre : preloads) {
          String pr = pre.endsWith("!") ? pre.substring(0, pre.length() - 1) : pre;
          long x = System.nanoTime();
          URL[] urls = Loader.findLibrary(enc, p, pr, false); // JavaCPP caches this map; we do not
          long y = System.nanoTime();
          String f = null;
          try {
            f = Loader.loadLibrary(enc, urls, pr, preloaded.toArray(new String[0]));
          } catch (UnsatisfiedLinkError e) {
            failed.add(pr);
          }
          long z = System.nanoTime();
          if (f == null) failTime += z - y;
          if (f != null && new File(f).exists()) preloaded.add(f);
          if (f != null && f.startsWith(cacheDir)) Loader.createLibraryLink(f, p, pr);
          long w = System.nanoTime();
          find += y - x; load += z - y; link += w - z;
        }
        String lib = p.getProperty("platform.library");
        long x = System.nanoTime();
        URL[] urls = Loader.findLibrary(enc, p, lib, false);
        long y = System.nanoTime();
        String f = Loader.loadLibrary(enc, urls, lib, preloaded.toArray(new String[0]));
        if (f != null && f.startsWith(cacheDir)) Loader.createLibraryLink(f, p, lib);
        long z = System.nanoTime();
        if (!listed) { listed = true; System.out.println("  preloads " + preloads + " failed " + failed); }
        System.out.printf("  split %s: checkPlatform %.2f props %.2f preloads %d find %.2f"
            + " loadLibrary %.2f createLibraryLink %.2f (failed %d: %.2f) jni-find %.2f jni-load+link %.2f%n",
            n, (b - a) / 1e6, (d - b) / 1e6, preloads.size(), find / 1e6, load / 1e6,
            link / 1e6, failed.size(), failTime / 1e6, (y - x) / 1e6, (z - y) / 1e6);
      }
      long s = System.nanoTime();
      Class.forName(n, true, cl);
      System.out.printf("%s %.2f ms%n", n, (System.nanoTime() - s) / 1e6);
    }
  }
}
