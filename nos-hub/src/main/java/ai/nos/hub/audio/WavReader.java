package ai.nos.hub.audio;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;

/*
 * A RIFF/WAVE reader that decodes straight to mono float samples.
 *
 * Bounds. Every size in the header is checked against the bytes that really exist before anything
 * is allocated: a data chunk that claims 4 GB in a 1 kB file is refused as truncated, so the one
 * large allocation (the mono float array, 4 bytes per frame) is at most about 4/blockAlign times
 * the file's size. The data is read in blocks of BLOCK bytes, never whole, so a 600 MB stereo file
 * costs its float array and 64 kB, not another 600 MB.
 *
 * Leniency, where real files need it: chunks other than "fmt " and "data" are skipped (LIST, fact,
 * bext, JUNK, in any order, with the RIFF pad byte after an odd size); the RIFF size field is not
 * trusted (writers that stream put 0 or garbage there); a data size of 0xFFFFFFFF (the streaming
 * placeholder ffmpeg and sox write to a pipe) means "to the end of the file"; a trailing partial
 * frame is dropped. Everything else that is wrong is an IllegalArgumentException that names the
 * source, what was expected and what was found.
 */
final class WavReader {

  /** Integer PCM is scaled by 2^(bits-1), as soundfile and librosa do: -1 is reachable, +1 not. */
  private static final int BLOCK = 1 << 16;
  private static final long MAX_FRAMES = Integer.MAX_VALUE - 8;
  private static final int PCM = 1;
  private static final int IEEE_FLOAT = 3;
  private static final int EXTENSIBLE = 0xFFFE;
  /** The 14 bytes after the format tag in KSDATAFORMAT_SUBTYPE_PCM and _IEEE_FLOAT. */
  private static final byte[] GUID_TAIL = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, (byte) 0x80, 0x00,
      0x00, (byte) 0xAA, 0x00, 0x38, (byte) 0x9B, 0x71};

  /** Random access to the bytes of a file or an array. */
  interface Source {
    long size() throws IOException;

    /** Fills {@code dst} from {@code position} on; the caller has checked the range exists. */
    void read(long position, ByteBuffer dst) throws IOException;

    static Source of(byte[] bytes) {
      return new Source() {
        @Override
        public long size() {
          return bytes.length;
        }

        @Override
        public void read(long position, ByteBuffer dst) {
          dst.put(bytes, (int) position, dst.remaining());
        }
      };
    }

    static Source of(FileChannel channel) {
      return new Source() {
        @Override
        public long size() throws IOException {
          return channel.size();
        }

        @Override
        public void read(long position, ByteBuffer dst) throws IOException {
          long at = position;
          while (dst.hasRemaining()) {
            int n = channel.read(dst, at);
            if (n < 0) {
              throw new IOException("the file shrank while it was read (at byte " + at + ")");
            }
            at += n;
          }
        }
      };
    }
  }

  private WavReader() {}

  /** Decodes a WAV source; {@code name} is how messages name it. */
  static Audio read(Source source, String name) throws IOException {
    long size = source.size();
    if (size < 12) {
      throw new IllegalArgumentException(name + " is not a WAV file: it has " + size
          + " bytes, fewer than the 12 of a RIFF/WAVE header");
    }
    ByteBuffer head = bytes(source, 0, 12);
    String riff = fourCc(head, 0);
    if (!riff.equals("RIFF") || !fourCc(head, 8).equals("WAVE")) {
      throw new IllegalArgumentException(name + " is not a WAV file: expected 'RIFF....WAVE' but "
          + "it starts with " + describe(head) + whatItIs(head)
          + "; decode it to WAV or to float PCM first");
    }
    long fmtAt = -1;
    long fmtSize = 0;
    long dataAt = -1;
    long dataSize = 0;
    long at = 12;
    while (at + 8 <= size && (fmtAt < 0 || dataAt < 0)) {
      ByteBuffer chunk = bytes(source, at, 8);
      String id = fourCc(chunk, 0);
      long chunkSize = Integer.toUnsignedLong(chunk.getInt(4));
      long body = at + 8;
      if (id.equals("data")) {
        dataAt = body;
        dataSize = chunkSize == 0xFFFFFFFFL ? size - body : chunkSize;
        if (dataSize > size - body) {
          throw new IllegalArgumentException(name + " is truncated: its data chunk at byte " + at
              + " claims " + chunkSize + " bytes but only " + (size - body) + " follow");
        }
      } else if (id.equals("fmt ")) {
        if (chunkSize < 16 || chunkSize > size - body) {
          throw new IllegalArgumentException(name + " has a corrupt fmt chunk at byte " + at
              + ": expected 16 to " + (size - body) + " bytes but its size field says "
              + chunkSize);
        }
        fmtAt = body;
        fmtSize = chunkSize;
      }
      at = body + chunkSize + (chunkSize & 1);
    }
    if (fmtAt < 0) {
      throw new IllegalArgumentException(name + " is truncated or corrupt: no fmt chunk in its "
          + size + " bytes" + (dataAt >= 0 ? " (a data chunk was found)" : ""));
    }
    if (dataAt < 0) {
      throw new IllegalArgumentException(name + " is truncated or corrupt: no data chunk in its "
          + size + " bytes");
    }
    Format format = Format.parse(bytes(source, fmtAt, (int) Math.min(fmtSize, 40)), name);
    long frames = dataSize / format.blockAlign;
    if (frames == 0) {
      throw new IllegalArgumentException(name + " holds zero-length audio: its data chunk has "
          + dataSize + " bytes, less than one frame of " + format.blockAlign + " bytes");
    }
    if (frames > MAX_FRAMES) {
      throw new IllegalArgumentException(name + " is too long: " + frames + " frames, at most "
          + MAX_FRAMES + " fit in one Audio");
    }
    return Audio.ofTrusted(decode(source, dataAt, (int) frames, format, name),
        format.sampleRate);
  }

  private static float[] decode(Source source, long dataAt, int frames, Format f, String name)
      throws IOException {
    float[] out = new float[frames];
    int framesPerBlock = Math.max(1, BLOCK / f.blockAlign);
    ByteBuffer buf = ByteBuffer.allocate(framesPerBlock * f.blockAlign)
        .order(ByteOrder.LITTLE_ENDIAN);
    int bytesPerSample = f.bits / 8;
    double scale = f.isFloat ? 1.0 : 1.0 / (1L << (f.bits - 1));
    for (int frame = 0; frame < frames; frame += framesPerBlock) {
      int n = Math.min(framesPerBlock, frames - frame);
      buf.clear().limit(n * f.blockAlign);
      source.read(dataAt + (long) frame * f.blockAlign, buf);
      for (int i = 0; i < n; i++) {
        int base = i * f.blockAlign;
        double sum = 0;
        for (int c = 0; c < f.channels; c++) {
          sum += sample(buf, base + c * bytesPerSample, f);
        }
        float mono = (float) (sum / f.channels * scale);
        if (!Float.isFinite(mono)) { // only float samples can be: NaN, infinite, or over 3.4e38
          throw new IllegalArgumentException(name + " holds float samples that are not finite:"
              + " the mono sample of frame " + (frame + i) + " is " + mono
              + "; expected finite samples, nominally in [-1, 1]");
        }
        if (Math.abs(mono) > Audio.MAX_ABS_SAMPLE) { // float samples only, as above
          throw new IllegalArgumentException(String.format("%s holds float samples too large:"
              + " the mono sample of frame %d is %.6g; expected a magnitude of at most %.6g,"
              + " nominally in [-1, 1]", name, frame + i, mono, Audio.MAX_ABS_SAMPLE));
        }
        out[frame + i] = mono;
      }
    }
    return out;
  }

  private static double sample(ByteBuffer b, int at, Format f) {
    if (f.isFloat) {
      return f.bits == 32 ? b.getFloat(at) : b.getDouble(at);
    }
    switch (f.bits) {
      case 8:
        return (b.get(at) & 0xFF) - 128; // 8-bit WAV is unsigned
      case 16:
        return b.getShort(at);
      case 24:
        return ((b.get(at + 2) << 16) | ((b.get(at + 1) & 0xFF) << 8) | (b.get(at) & 0xFF));
      default:
        return b.getInt(at);
    }
  }

  /** What "fmt " says, checked. */
  private static final class Format {
    final int channels;
    final int sampleRate;
    final int blockAlign;
    final int bits;
    final boolean isFloat;

    private Format(int channels, int sampleRate, int blockAlign, int bits, boolean isFloat) {
      this.channels = channels;
      this.sampleRate = sampleRate;
      this.blockAlign = blockAlign;
      this.bits = bits;
      this.isFloat = isFloat;
    }

    static Format parse(ByteBuffer fmt, String name) {
      int tag = fmt.getShort(0) & 0xFFFF;
      int channels = fmt.getShort(2) & 0xFFFF;
      long rate = Integer.toUnsignedLong(fmt.getInt(4));
      int blockAlign = fmt.getShort(12) & 0xFFFF;
      int bits = fmt.getShort(14) & 0xFFFF;
      int coding = tag;
      if (tag == EXTENSIBLE) {
        if (fmt.limit() < 40 || (fmt.getShort(16) & 0xFFFF) < 22) {
          throw new IllegalArgumentException(name + " has a corrupt WAVE_FORMAT_EXTENSIBLE fmt "
              + "chunk: expected 40 bytes with an extension of 22 but it has " + fmt.limit()
              + " bytes" + (fmt.limit() >= 18 ? " with an extension of "
              + (fmt.getShort(16) & 0xFFFF) : ""));
        }
        coding = fmt.getShort(24) & 0xFFFF;
        for (int i = 0; i < GUID_TAIL.length; i++) {
          if (fmt.get(26 + i) != GUID_TAIL[i]) {
            throw new IllegalArgumentException(name + " has WAVE_FORMAT_EXTENSIBLE with a "
                + "sub-format GUID that is not PCM or IEEE float; NOS reads those two only");
          }
        }
      }
      boolean isFloat = coding == IEEE_FLOAT;
      if (coding != PCM && !isFloat) {
        throw new IllegalArgumentException(name + " is a WAV file in encoding "
            + codingName(coding) + "; NOS reads PCM (8, 16, 24, 32-bit) and IEEE float (32, "
            + "64-bit) only: convert it first");
      }
      boolean bitsOk = isFloat ? bits == 32 || bits == 64
          : bits == 8 || bits == 16 || bits == 24 || bits == 32;
      if (!bitsOk) {
        throw new IllegalArgumentException(name + " has " + bits + "-bit " + (isFloat ? "float"
            : "PCM") + " samples; expected " + (isFloat ? "32 or 64" : "8, 16, 24 or 32"));
      }
      if (channels == 0) {
        throw new IllegalArgumentException(name + " has a corrupt fmt chunk: 0 channels");
      }
      if (rate < Audio.MIN_SAMPLE_RATE || rate > Audio.MAX_SAMPLE_RATE) {
        throw new IllegalArgumentException(name + " has a sample rate of " + rate
            + " Hz; expected " + Audio.MIN_SAMPLE_RATE + " to " + Audio.MAX_SAMPLE_RATE);
      }
      if (blockAlign != channels * (bits / 8)) {
        throw new IllegalArgumentException(name + " has a corrupt fmt chunk: block align "
            + blockAlign + " but " + channels + " channels of " + bits + " bits need "
            + channels * (bits / 8));
      }
      return new Format(channels, (int) rate, blockAlign, bits, isFloat);
    }

    private static String codingName(int coding) {
      switch (coding) {
        case 0x2: return "MS ADPCM (0x0002)";
        case 0x6: return "A-law (0x0006)";
        case 0x7: return "mu-law (0x0007)";
        case 0x11: return "IMA ADPCM (0x0011)";
        case 0x50: return "MPEG (0x0050)";
        case 0x55: return "MP3 (0x0055)";
        default: return String.format("0x%04X", coding);
      }
    }
  }

  private static ByteBuffer bytes(Source source, long at, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    source.read(at, b);
    return b.flip();
  }

  private static String fourCc(ByteBuffer b, int at) {
    byte[] id = new byte[4];
    b.get(at, id);
    return new String(id, StandardCharsets.ISO_8859_1);
  }

  /** The first bytes, as text where printable, else hex. */
  private static String describe(ByteBuffer head) {
    StringBuilder s = new StringBuilder();
    boolean printable = true;
    for (int i = 0; i < 4; i++) {
      int c = head.get(i) & 0xFF;
      printable &= c >= 0x20 && c < 0x7F;
    }
    if (printable) {
      return "'" + fourCc(head, 0) + "'";
    }
    for (int i = 0; i < 4; i++) {
      s.append(String.format("%02X", head.get(i) & 0xFF));
    }
    return "bytes " + s;
  }

  private static String whatItIs(ByteBuffer head) {
    int b0 = head.get(0) & 0xFF;
    int b1 = head.get(1) & 0xFF;
    String magic = fourCc(head, 0);
    if (magic.startsWith("ID3") || (b0 == 0xFF && (b1 & 0xE0) == 0xE0)) {
      return " (an MP3 file?)";
    }
    if (magic.equals("fLaC")) {
      return " (a FLAC file)";
    }
    if (magic.equals("OggS")) {
      return " (an Ogg file)";
    }
    if (magic.equals("RIFX") || magic.equals("RF64")) {
      return " (a " + magic + " WAV variant, which NOS does not read)";
    }
    if (magic.equals("RIFF")) {
      return " (a RIFF file of type '" + fourCc(head, 8) + "', not WAVE)";
    }
    if (fourCc(head, 4).equals("ftyp")) {
      return " (an MP4/M4A file)";
    }
    return "";
  }
}
