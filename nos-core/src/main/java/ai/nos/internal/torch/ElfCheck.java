package ai.nos.internal.torch;

import ai.nos.ModelLoadException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * Checks that a file is a whole 64-bit little-endian ELF shared library before the dynamic
 * loader maps it: {@code dlopen} of a truncated library maps segments past the end of the file
 * and the process dies of SIGBUS while relocating (seen with an AOTInductor package whose
 * library was cut short: the JVM crashed). The check reads the ELF header and program headers
 * and refuses a file whose headers or loadable/dynamic segments reach past its end, or that is
 * not a shared library for this machine. It cannot tell a library whose bytes were altered in
 * place: that is what an artifact's sha256 is for.
 *
 * <p>The file is read with {@link RandomAccessFile}, not a {@code FileChannel}: a channel is
 * closed when the reading thread's interrupt flag is set, and the library was then reported as
 * incomplete.
 */
final class ElfCheck {
  private static final int EM_X86_64 = 62;
  private static final int EM_AARCH64 = 183;
  private static final int ET_DYN = 3;
  private static final int PT_LOAD = 1;
  private static final int PT_DYNAMIC = 2;

  private ElfCheck() {}

  /**
   * Returns normally if {@code library} (from the artifact {@code origin}) is a complete shared
   * library for this machine.
   *
   * @throws ModelLoadException naming the model, the file and what is wrong
   */
  static void requireSharedLibrary(String modelId, Path library, Path origin) {
    String problem;
    try (RandomAccessFile f = new RandomAccessFile(library.toFile(), "r")) {
      problem = problem(f);
    } catch (IOException e) {
      problem = "it cannot be read: " + e;
    }
    if (problem != null) {
      throw new ModelLoadException("model '" + modelId + "': the library " + library + " of "
          + origin + " is not a complete shared library for this machine (" + problem
          + "); it was not opened");
    }
  }

  /** What is wrong with the file, or null. */
  static String problem(RandomAccessFile ch) throws IOException {
    long size = ch.length();
    if (size < 64) {
      return "it has " + size + " bytes, fewer than an ELF header's 64";
    }
    ByteBuffer h = read(ch, 0, 64);
    if (h.getInt(0) != 0x464c457f) {
      return "it does not start with the ELF magic number";
    }
    if (h.get(4) != 2 || h.get(5) != 1) {
      return "it is not a 64-bit little-endian ELF file (class " + h.get(4) + ", data "
          + h.get(5) + ")";
    }
    int type = Short.toUnsignedInt(h.getShort(16));
    int machine = Short.toUnsignedInt(h.getShort(18));
    int expected = System.getProperty("os.arch", "").contains("aarch64") ? EM_AARCH64
        : EM_X86_64;
    if (type != ET_DYN) {
      return "its ELF type is " + type + ", not a shared library (" + ET_DYN + ")";
    }
    if (machine != expected) {
      return "it is built for ELF machine " + machine + " but this JVM runs on "
          + System.getProperty("os.arch") + " (" + expected + ")";
    }
    long phoff = h.getLong(32);
    long shoff = h.getLong(40);
    int phentsize = Short.toUnsignedInt(h.getShort(54));
    int phnum = Short.toUnsignedInt(h.getShort(56));
    int shentsize = Short.toUnsignedInt(h.getShort(58));
    int shnum = Short.toUnsignedInt(h.getShort(60));
    if (phnum == 0 || phentsize < 56 || phentsize > 1024) {
      return "it has no usable program headers (" + phnum + " of " + phentsize + " bytes)";
    }
    // Compared as "start > size - length": a start near Long.MAX_VALUE plus a length overflows
    // to a negative end, which "start + length > size" passed.
    long phbytes = (long) phnum * phentsize;
    if (phoff < 0 || phoff > size - phbytes) {
      return "its program headers end at byte " + end(phoff, phbytes) + " but the file has "
          + size;
    }
    long shbytes = (long) shnum * shentsize;
    if (shnum > 0 && (shoff < 0 || shoff > size - shbytes)) {
      return "its section headers end at byte " + end(shoff, shbytes) + " but the file has "
          + size;
    }
    ByteBuffer ph = read(ch, phoff, phnum * phentsize);
    for (int i = 0; i < phnum; i++) {
      int at = i * phentsize;
      int ptype = ph.getInt(at);
      long offset = ph.getLong(at + 8);
      long filesz = ph.getLong(at + 32);
      if ((ptype == PT_LOAD || ptype == PT_DYNAMIC)
          && (offset < 0 || filesz < 0 || offset > size - filesz)) {
        return "segment " + i + " ends at byte " + end(offset, filesz) + " but the file has "
            + size;
      }
    }
    return null;
  }

  /** Where {@code length} bytes from {@code start} end, as an unsigned 64-bit file offset. */
  private static String end(long start, long length) {
    return start < 0 || length < 0 ? Long.toUnsignedString(start) + " + "
        + Long.toUnsignedString(length) : Long.toUnsignedString(start + length);
  }

  /** {@code n} bytes from {@code at}; zeros past the end (the callers checked the size). */
  private static ByteBuffer read(RandomAccessFile f, long at, int n) throws IOException {
    byte[] b = new byte[n];
    f.seek(at);
    int got = 0;
    while (got < n) {
      int r = f.read(b, got, n - got);
      if (r < 0) {
        break;
      }
      got += r;
    }
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
  }
}
