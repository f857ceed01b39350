package ai.nos.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * TorchScript files edited the way a newer torch would write them: the Python code an archive
 * holds ({@code <name>/code/...py}) with a call renamed, so that it names an operator this
 * libtorch does not have. Shipped in nos-core's test jar.
 */
public final class TorchScriptArchives {
  private TorchScriptArchives() {}

  /**
   * Copies the archive {@code from} to {@code to} with every {@code call} in its code files
   * replaced by {@code renamed}; entries are stored uncompressed, as torch writes them.
   *
   * @throws IllegalArgumentException if no code file holds {@code call}
   */
  public static Path withRenamedCall(Path from, Path to, String call, String renamed)
      throws IOException {
    boolean found = false;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    // ZipFile reads the central directory: torch's stored entries carry data descriptors,
    // which ZipInputStream refuses for stored entries.
    try (ZipFile in = new ZipFile(from.toFile());
        ZipOutputStream zip = new ZipOutputStream(out)) {
      for (ZipEntry e : Collections.list(in.entries())) {
        byte[] data;
        try (InputStream entry = in.getInputStream(e)) {
          data = entry.readAllBytes();
        }
        if (e.getName().contains("/code/") && e.getName().endsWith(".py")) {
          String code = new String(data, StandardCharsets.UTF_8);
          found |= code.contains(call);
          data = code.replace(call, renamed).getBytes(StandardCharsets.UTF_8);
        }
        ZipEntry copy = new ZipEntry(e.getName());
        copy.setMethod(ZipEntry.STORED);
        copy.setSize(data.length);
        copy.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        copy.setCrc(crc.getValue());
        zip.putNextEntry(copy);
        zip.write(data);
        zip.closeEntry();
      }
    }
    if (!found) {
      throw new IllegalArgumentException("no code file of " + from + " calls " + call);
    }
    return Files.write(to, out.toByteArray());
  }
}
