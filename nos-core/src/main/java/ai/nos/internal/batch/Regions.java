package ai.nos.internal.batch;

import java.nio.ByteBuffer;

/**
 * Copies one row-major block into another of the same rank whose dimensions may be larger (the
 * rest is filled with a pad value) or smaller (the rest is left out), with one bulk copy per
 * contiguous run: a block whose shape matches is a single copy, and a block padded or cut in its
 * dimension {@code j} is one copy per index of the dimensions before {@code j}.
 */
final class Regions {

  /** Bytes of the pad block a fill copies from; whole elements of every dtype. */
  private static final int PAD_BLOCK_BYTES = 4096;

  private Regions() {}

  /** A pad value as a block of repeated elements, so that a fill is a few bulk copies. */
  static final class Pad {
    private final byte[] block;

    /** @param element the bytes of one element in native order */
    Pad(byte[] element) {
      block = new byte[PAD_BLOCK_BYTES];
      for (int i = 0; i < block.length; i++) {
        block[i] = element[i % element.length];
      }
    }

    void fill(ByteBuffer dst, long pos, long bytes) {
      for (long done = 0; done < bytes; done += block.length) {
        dst.put((int) (pos + done), block, 0, (int) Math.min(block.length, bytes - done));
      }
    }
  }

  /**
   * Copies the common part of {@code src} (shape {@code srcShape}, starting at byte
   * {@code srcPos}) into {@code dst} (shape {@code dstShape}, at {@code dstPos}) and fills the
   * part of {@code dst} beyond {@code src} with {@code pad}. Neither buffer's position moves.
   *
   * @param pad the pad value; may be null when {@code dst} is nowhere larger than {@code src}
   */
  static void copy(ByteBuffer src, long srcPos, long[] srcShape, ByteBuffer dst, long dstPos,
      long[] dstShape, int elementBytes, Pad pad) {
    int last = -1;
    for (int d = 0; d < srcShape.length; d++) {
      if (srcShape[d] != dstShape[d]) {
        last = d;
      }
    }
    if (last < 0) {
      dst.put((int) dstPos, src, (int) srcPos, (int) (numel(srcShape, 0) * elementBytes));
      return;
    }
    long inner = numel(srcShape, last + 1) * elementBytes;
    long[] srcStride = new long[last + 1];
    long[] dstStride = new long[last + 1];
    for (int d = last; d >= 0; d--) {
      srcStride[d] = d == last ? inner : srcStride[d + 1] * srcShape[d + 1];
      dstStride[d] = d == last ? inner : dstStride[d + 1] * dstShape[d + 1];
    }
    new Copy(src, srcShape, srcStride, dst, dstShape, dstStride, last, pad).run(0, srcPos, dstPos);
  }

  /** The product of {@code shape[from..]}. */
  static long numel(long[] shape, int from) {
    long n = 1;
    for (int d = from; d < shape.length; d++) {
      n *= shape[d];
    }
    return n;
  }

  private record Copy(ByteBuffer src, long[] srcShape, long[] srcStride, ByteBuffer dst,
      long[] dstShape, long[] dstStride, int last, Pad pad) {

    void run(int d, long s, long t) {
      long common = Math.min(srcShape[d], dstShape[d]);
      if (d == last) {
        dst.put((int) t, src, (int) s, (int) (common * srcStride[d]));
      } else {
        for (long i = 0; i < common; i++) {
          run(d + 1, s + i * srcStride[d], t + i * dstStride[d]);
        }
      }
      if (dstShape[d] > common) {
        pad.fill(dst, t + common * dstStride[d], (dstShape[d] - common) * dstStride[d]);
      }
    }
  }
}
