package ai.nos.hub.audio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * WAV decoding against the mono mixdowns numpy computed for the committed clips (scipy and
 * hand-written files: 8/16/24/32-bit PCM, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE, 1 to 3
 * channels, 8 to 48 kHz, a LIST chunk before the data, an odd-sized data chunk), and hostile
 * headers built here. Samples must agree within 1e-7 (the reference is the float64 mean rounded to
 * float32, as here, so the only difference allowed is summation order).
 */
final class WavReaderTest {

  @ParameterizedTest
  @CsvSource({
      "pcm16_stereo_16k, 16000", "pcm32_mono_8k, 8000", "pcm24_3ch_44k, 44100",
      "float32_stereo_48k, 48000", "float64_mono_22k, 22050",
      "extensible_float32_stereo_48k, 48000", "extensible_pcm16_mono_11k, 11025",
      "pcm8_mono_8k, 8000"})
  void read_committedClips_matchNumpy(String name, int rate, @TempDir Path dir) throws Exception {
    byte[] wav = Clips.bytes("wav/" + name + ".wav");
    float[] expected = Clips.floats("wav/" + name + ".f32");
    Audio fromBytes = Audio.read(wav);
    Path file = dir.resolve(name + ".wav");
    Files.write(file, wav);
    Audio fromFile = Audio.read(file);
    assertEquals(rate, fromBytes.sampleRate());
    assertEquals(expected.length, fromBytes.length());
    assertTrue(Clips.maxAbsDiff(expected, fromBytes.samples()) <= 1e-7,
        name + ": max |diff| " + Clips.maxAbsDiff(expected, fromBytes.samples()));
    assertEquals(fromBytes, fromFile);
  }

  @Test
  void read_int24Extremes_scaleToMinusOneAndJustBelowOne() {
    byte[] data = {0, 0, (byte) 0x80, (byte) 0xFF, (byte) 0xFF, 0x7F}; // -2^23, 2^23-1
    float[] s = Audio.read(wav(1, 1, 8000, 24, data, false)).samples();
    assertArrayEquals(new float[] {-1f, (float) (8388607 / 8388608.0)}, s);
  }

  @Test
  void read_mp3_namesTheFormat() {
    byte[] mp3 = "ID3\u0004\0\0\0\0\0\u0021rest of an mp3".getBytes(StandardCharsets.ISO_8859_1);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Audio.read(mp3));
    assertTrue(e.getMessage().contains("not a WAV file") && e.getMessage().contains("MP3")
        && e.getMessage().contains("'RIFF....WAVE'"), e.getMessage());
    byte[] frameSync = {(byte) 0xFF, (byte) 0xFB, (byte) 0x90, 0x44, 0, 0, 0, 0, 0, 0, 0, 0};
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.read(frameSync))
        .getMessage().contains("bytes FFFB9044 (an MP3 file?)"));
  }

  @ParameterizedTest
  @CsvSource({"fLaC, FLAC", "OggS, Ogg", "RIFX, RIFX", "RF64, RF64"})
  void read_otherContainers_namesThem(String magic, String named) {
    byte[] b = (magic + "\0\0\0\0WAVE").getBytes(StandardCharsets.ISO_8859_1);
    String m = assertThrows(IllegalArgumentException.class, () -> Audio.read(b)).getMessage();
    assertTrue(m.contains("'" + magic + "'") && m.contains(named), m);
  }

  @Test
  void read_riffOfAnotherType_saysWhichType() {
    byte[] avi = "RIFF\0\0\0\0AVI LIST".getBytes(StandardCharsets.ISO_8859_1);
    String m = assertThrows(IllegalArgumentException.class, () -> Audio.read(avi)).getMessage();
    assertTrue(m.contains("type 'AVI '"), m);
  }

  @Test
  void read_tooShortOrEmpty_saysHowManyBytes() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.read(new byte[0]))
        .getMessage().contains("it has 0 bytes, fewer than the 12"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.read(new byte[11]))
        .getMessage().contains("11 bytes"));
  }

  @Test
  void read_dataClaimingFourGigabytes_isTruncatedNotAllocated() {
    byte[] w = wav(1, 2, 16000, 16, new byte[64], false);
    ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).putInt(dataSizeAt(w), 0xFFFFFFF0);
    String m = assertThrows(IllegalArgumentException.class, () -> Audio.read(w)).getMessage();
    assertTrue(m.contains("truncated") && m.contains("claims 4294967280 bytes but only 64 follow"),
        m);
  }

  @Test
  void read_streamingPlaceholderSize_readsToTheEnd() {
    byte[] w = wav(1, 1, 16000, 16, new byte[] {0, 0x40, 0, (byte) 0xC0}, false);
    ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).putInt(dataSizeAt(w), 0xFFFFFFFF);
    assertArrayEquals(new float[] {0.5f, -0.5f}, Audio.read(w).samples());
  }

  @Test
  void read_trailingPartialFrame_isDropped() {
    byte[] w = wav(1, 2, 16000, 16, new byte[] {0, 0x40, 0, 0x40, 1, 2, 3}, false);
    assertArrayEquals(new float[] {0.5f}, Audio.read(w).samples());
  }

  @Test
  void read_zeroLengthData_isRefused() {
    String m = assertThrows(IllegalArgumentException.class,
        () -> Audio.read(wav(1, 2, 16000, 16, new byte[3], false))).getMessage();
    assertTrue(m.contains("zero-length audio") && m.contains("3 bytes, less than one frame of 4"),
        m);
  }

  @Test
  void read_unsupportedEncodings_nameThem() {
    String mulaw = assertThrows(IllegalArgumentException.class,
        () -> Audio.read(wav(7, 1, 8000, 8, new byte[8], false))).getMessage();
    assertTrue(mulaw.contains("mu-law (0x0007)") && mulaw.contains("PCM"), mulaw);
    String mp3 = assertThrows(IllegalArgumentException.class,
        () -> Audio.read(wav(0x55, 1, 8000, 16, new byte[8], false))).getMessage();
    assertTrue(mp3.contains("MP3 (0x0055)"), mp3);
    String bits = assertThrows(IllegalArgumentException.class,
        () -> Audio.read(wav(1, 1, 8000, 12, new byte[8], false))).getMessage();
    assertTrue(bits.contains("12-bit PCM") && bits.contains("8, 16, 24 or 32"), bits);
    String f16 = assertThrows(IllegalArgumentException.class,
        () -> Audio.read(wav(3, 1, 8000, 16, new byte[8], false))).getMessage();
    assertTrue(f16.contains("16-bit float") && f16.contains("32 or 64"), f16);
  }

  @Test
  void read_extensibleWithForeignGuid_isRefused() {
    byte[] w = wav(1, 1, 8000, 16, new byte[8], true);
    w[20 + 24 + 4] = 0x77; // the GUID's tail (fmt body starts at 20; tail at body + 26)
    String m = assertThrows(IllegalArgumentException.class, () -> Audio.read(w)).getMessage();
    assertTrue(m.contains("sub-format GUID"), m);
  }

  @Test
  void read_nonFiniteFloatSamples_areRefusedWithTheFrame() {
    // Audio.of refuses them; a float WAV handed them on to the features unchecked.
    byte[] nan = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(0.5f)
        .putFloat(Float.NaN).array();
    String m = assertThrows(IllegalArgumentException.class,
        () -> Audio.read(wav(3, 1, 16000, 32, nan, false))).getMessage();
    assertTrue(m.contains("frame 1 is NaN") && m.contains("finite"), m);
    // Finite doubles whose mean overflows a float.
    byte[] huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putDouble(1e300)
        .putDouble(1e300).array();
    m = assertThrows(IllegalArgumentException.class,
        () -> Audio.read(wav(3, 2, 16000, 64, huge, false))).getMessage();
    assertTrue(m.contains("frame 0 is Infinity"), m);
  }

  @Test
  void read_extensibleWithoutItsExtension_saysWhatItHas() {
    byte[] w = wav(1, 1, 8000, 16, new byte[8], true);
    ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).putShort(20 + 16, (short) 0); // cbSize
    String m = assertThrows(IllegalArgumentException.class, () -> Audio.read(w)).getMessage();
    assertTrue(m.contains("expected 40 bytes with an extension of 22 but it has 40 bytes with an"
        + " extension of 0"), m);
  }

  @Test
  void read_corruptFmtFields_areNamed() {
    byte[] zeroChannels = wav(1, 1, 8000, 16, new byte[8], false);
    ByteBuffer.wrap(zeroChannels).order(ByteOrder.LITTLE_ENDIAN).putShort(22, (short) 0);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.read(zeroChannels))
        .getMessage().contains("0 channels"));
    byte[] zeroRate = wav(1, 1, 8000, 16, new byte[8], false);
    ByteBuffer.wrap(zeroRate).order(ByteOrder.LITTLE_ENDIAN).putInt(24, 0);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.read(zeroRate))
        .getMessage().contains("sample rate of 0 Hz"));
    byte[] align = wav(1, 2, 8000, 16, new byte[8], false);
    ByteBuffer.wrap(align).order(ByteOrder.LITTLE_ENDIAN).putShort(32, (short) 3);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.read(align))
        .getMessage().contains("block align 3 but 2 channels of 16 bits need 4"));
    byte[] shortFmt = wav(1, 1, 8000, 16, new byte[8], false);
    ByteBuffer.wrap(shortFmt).order(ByteOrder.LITTLE_ENDIAN).putInt(16, 12);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.read(shortFmt))
        .getMessage().contains("corrupt fmt chunk"));
  }

  /**
   * A rate under 1 kHz holds no speech; a header declaring one (2 Hz) would grow 8,000 times on
   * its way to 16 kHz. Refused with the rate named; the bounds themselves are read.
   */
  @Test
  void read_sampleRateUnderOneKilohertz_isRefusedNamingTheRate() {
    byte[] twoHertz = wav(1, 1, 2, 16, new byte[8], false);
    assertEquals("audio bytes (52 bytes) has a sample rate of 2 Hz; expected 1000 to 768000",
        assertThrows(IllegalArgumentException.class, () -> Audio.read(twoHertz)).getMessage());
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> Audio.read(wav(1, 1, 999, 16, new byte[8], false))).getMessage()
        .contains("sample rate of 999 Hz"));
    assertEquals(1000, Audio.read(wav(1, 1, 1000, 16, new byte[8], false)).sampleRate());
    assertEquals(768_000, Audio.read(wav(1, 1, 768_000, 16, new byte[8], false)).sampleRate());
    assertEquals("sampleRate must be 1000 to 768000 Hz but was 2", assertThrows(
        IllegalArgumentException.class, () -> Audio.of(new float[8], 2)).getMessage());
    assertEquals("target sample rate must be 1000 to 768000 Hz but was 999", assertThrows(
        IllegalArgumentException.class, () -> Audio.of(new float[8], 16_000).resample(999))
        .getMessage());
  }

  @Test
  void read_headerOnly_saysNoChunk() {
    byte[] w = "RIFF\u0004\0\0\0WAVE".getBytes(StandardCharsets.ISO_8859_1);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.read(w)).getMessage()
        .contains("no fmt chunk"));
    byte[] full = wav(1, 1, 8000, 16, new byte[8], false);
    byte[] fmtOnly = java.util.Arrays.copyOf(full, dataSizeAt(full) - 4);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.read(fmtOnly))
        .getMessage().contains("no data chunk"));
  }

  @Test
  void read_missingFile_namesIt(@TempDir Path dir) {
    Path missing = dir.resolve("nope.wav");
    String m = assertThrows(IllegalArgumentException.class, () -> Audio.read(missing))
        .getMessage();
    assertTrue(m.contains(missing.toString()) && m.contains("does not exist"), m);
  }

  /** Mutated headers of a real clip: only IllegalArgumentException, never another throwable. */
  @Test
  void read_fuzzedHeaders_failCleanly() {
    byte[] base = Clips.bytes("wav/extensible_float32_stereo_48k.wav");
    Random random = new Random(18);
    int refused = 0;
    for (int round = 0; round < 3000; round++) {
      byte[] w = java.util.Arrays.copyOf(base, random.nextInt(10) == 0
          ? random.nextInt(base.length) : base.length);
      for (int k = random.nextInt(4) + 1; k > 0; k--) {
        int at = random.nextInt(Math.min(w.length, 96) + 1);
        if (at < w.length) {
          w[at] = (byte) random.nextInt(256);
        }
      }
      try {
        Audio a = Audio.read(w);
        assertTrue(a.length() > 0 && a.length() <= w.length);
      } catch (IllegalArgumentException expected) {
        refused++;
      }
    }
    assertTrue(refused > 100, "the mutations should break most headers; refused " + refused);
  }

  @Test
  void of_checksItsArguments() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.of(new float[0], 16000))
        .getMessage().contains("zero-length"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> Audio.of(new float[] {0, Float.NaN}, 16000)).getMessage().contains("samples[1]"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Audio.of(new float[1], 0))
        .getMessage().contains("was 0"));
    float[] mine = {0.25f};
    Audio a = Audio.of(mine, 8000);
    mine[0] = 1;
    assertEquals(0.25f, a.samples()[0]);
  }

  /** Samples beyond Audio.MAX_ABS_SAMPLE overflowed Whisper's float32 features to NaN. */
  @Test
  void hugeFiniteSamples_areRefusedNamingTheSampleAndTheBound() {
    String m = assertThrows(IllegalArgumentException.class,
        () -> Audio.of(new float[] {0, 0.5f, 0, -1e18f}, 16000)).getMessage();
    assertTrue(m.contains("samples[3] is -1.00000e+18") && m.contains("at most 1.00000e+15"), m);
    assertEquals(-Audio.MAX_ABS_SAMPLE, Audio.of(new float[] {0, -Audio.MAX_ABS_SAMPLE}, 16000)
        .samples()[1], 0f);
    ByteBuffer data = ByteBuffer.allocate(3 * 8).order(ByteOrder.LITTLE_ENDIAN);
    data.putDouble(0.5).putDouble(-0.25).putDouble(2e15);
    m = assertThrows(IllegalArgumentException.class,
        () -> Audio.read(wav(3, 1, 16000, 64, data.array(), false))).getMessage();
    assertTrue(m.contains("the mono sample of frame 2 is 2.00000e+15")
        && m.contains("at most 1.00000e+15"), m);
  }

  /** A canonical WAV (44-byte header, or 68 with the extensible fmt) around {@code data}. */
  static byte[] wav(int tag, int channels, int rate, int bits, byte[] data, boolean extensible) {
    int block = channels * bits / 8;
    ByteBuffer fmt = ByteBuffer.allocate(extensible ? 40 : 16).order(ByteOrder.LITTLE_ENDIAN);
    fmt.putShort((short) (extensible ? 0xFFFE : tag)).putShort((short) channels).putInt(rate)
        .putInt(rate * block).putShort((short) block).putShort((short) bits);
    if (extensible) {
      fmt.putShort((short) 22).putShort((short) bits).putInt(1).putShort((short) tag)
          .put(new byte[] {0, 0, 0, 0, 0x10, 0, (byte) 0x80, 0, 0, (byte) 0xAA, 0, 0x38,
              (byte) 0x9B, 0x71});
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteBuffer head = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    out.writeBytes("RIFF".getBytes(StandardCharsets.ISO_8859_1));
    out.write(head.putInt(0, 4 + 8 + fmt.capacity() + 8 + data.length).array(), 0, 4);
    out.writeBytes("WAVEfmt ".getBytes(StandardCharsets.ISO_8859_1));
    out.write(head.putInt(0, fmt.capacity()).array(), 0, 4);
    out.writeBytes(fmt.array());
    out.writeBytes("data".getBytes(StandardCharsets.ISO_8859_1));
    out.write(head.putInt(0, data.length).array(), 0, 4);
    out.writeBytes(data);
    return out.toByteArray();
  }

  /** The offset of the data chunk's size field in a file from {@link #wav}. */
  static int dataSizeAt(byte[] w) {
    return 12 + 8 + (ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).getInt(16)) + 4;
  }
}
