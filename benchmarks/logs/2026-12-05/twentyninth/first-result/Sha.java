import java.io.*;
import java.security.MessageDigest;
public final class Sha {
  public static void main(String[] a) throws Exception {
    long t0 = System.nanoTime();
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    long t1 = System.nanoTime();
    System.out.printf("getInstance %.2f ms%n", (t1 - t0) / 1e6);
    for (int r = 0; r < 3; r++) {
      long s = System.nanoTime();
      MessageDigest m = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 20];
      try (InputStream in = new FileInputStream(a[0])) {
        for (int n; (n = in.read(buf)) > 0; ) m.update(buf, 0, n);
      }
      java.util.HexFormat.of().formatHex(m.digest());
      System.out.printf("hash %d %.2f ms%n", r, (System.nanoTime() - s) / 1e6);
    }
  }
}
