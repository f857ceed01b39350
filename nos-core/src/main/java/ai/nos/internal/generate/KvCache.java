package ai.nos.internal.generate;

import java.util.BitSet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/*
 * The key/value cache of a generator: slot-based. One pair of tensors on the model's device,
 * [layers, slots, length, kvHeads, headDim] each, allocated once when the generator is built; a
 * sequence owns one slot (a row of both) from its prefill to its last token, and the slot is
 * free again the moment the sequence finishes, fails or is cancelled. Beside it, "seen" [slots,
 * vocab] bool marks the tokens each slot's sequence holds, for the repetition penalty, so that
 * too stays on the device.
 *
 * Why slots and not paged blocks: with a slot per sequence the model's attention reads its rows
 * with one index_select and every decode step has the same tensors at the same addresses, which
 * is what a CUDA graph per batch bucket needs; the cost is that each slot is sized for the
 * longest sequence (length). Bytes are booked up front (bytes()), so the manager can count them
 * in placement exactly; paged blocks would save memory on mixed lengths and are the step after.
 * A stale slot needs no clearing: attention masks every position past the query's own, and a
 * new sequence writes positions 0.. before it reads them.
 *
 * With CUDA graphs the engine pads a decode step to a bucket size, and a padding row must write
 * its keys and values somewhere no sequence reads: the cache then has one scratch slot beyond
 * the sequences' (scratch(), never handed out), booked like the others.
 *
 * Compact slots
 * acquire() hands out the lowest free slot, and move() carries sequences from one set of slots
 * to another: each of keys, values and seen gathers the source rows (index_select, a copy) and
 * writes them into the destination rows (index_copy_), one pair of ops per tensor for all the
 * moves at once, on the device (nothing comes to the host), in place (the tensors keep their
 * addresses, so recorded CUDA graphs stay valid). The engine uses both to keep its n active
 * sequences in slots 0..n-1 (GenerationEngine's essay, "Compact slots"), so that a decode step's
 * rows are the first slots in order. The cross caches of an encoder-decoder model move with the
 * same index tensors (CrossCache.move). A source row is left as it was: it is free afterwards,
 * and stale rows need no clearing (above; the seen row is reset at admission). The gather's
 * copy is transient device memory beside the booked caches, from libtorch's caching allocator:
 * m slots of one tensor, so a move gathers at most MOVE_CHUNK_BYTES at once (then one more
 * pair of ops per chunk); a Whisper-tiny slot's cross keys are 4.6 MB in fp16, so 14 moves of
 * one compaction still take one pair.
 *
 * Not thread-safe: the engine's scheduler thread is its only user (acquire, release, move and
 * the tensors alike; a move runs between steps, on that thread's stream, so it is ordered with
 * the steps and graph replays around it). close() frees the tensors.
 */
final class KvCache implements AutoCloseable {
  private final Tensor keys;
  private final Tensor values;
  private final Tensor seen;
  private final int slots;
  /** The scratch slot's index, or -1 without one. */
  private final int scratch;
  private final int length;
  private final int vocab;
  private final long bytes;
  /** The most a move gathers at once, bytes (see the class notes). */
  static final long MOVE_CHUNK_BYTES = 64L << 20;
  /** The slots held by a sequence (scratch never). */
  private final BitSet taken = new BitSet();

  KvCache(DecoderModel model, int slots, int length) {
    this(model, slots, length, false);
  }

  /** @param scratch whether to add a scratch slot for padding rows (see the class notes) */
  KvCache(DecoderModel model, int slots, int length, boolean scratch) {
    this.slots = slots;
    this.scratch = scratch ? slots : -1;
    this.length = length;
    this.vocab = model.vocabSize();
    int rows = scratch ? slots + 1 : slots;
    this.bytes = bytesPerSequence(model, length) * rows;
    long[] shape = {model.layers(), rows, length, model.kvHeads(), model.headDim()};
    try (PointerScope scope = new PointerScope(); InferenceMode guard = new InferenceMode()) {
      TensorOptions options = new TensorOptions(model.scalarType())
          .device(new org.bytedeco.pytorch.DeviceOptional(model.torchDevice()));
      Tensor k = torch.empty(shape, options, new MemoryFormatOptional()).zero_();
      Tensor v = torch.empty(shape, options, new MemoryFormatOptional()).zero_();
      Tensor s = torch.empty(new long[] {rows, vocab}, new TensorOptions(
          torch.ScalarType.Bool).device(new org.bytedeco.pytorch.DeviceOptional(
              model.torchDevice())), new MemoryFormatOptional()).zero_();
      k.retainReference();
      v.retainReference();
      s.retainReference();
      this.keys = k;
      this.values = v;
      this.seen = s;
    }
  }

  /** Bytes of one slot: keys and values of every layer for {@code length} positions. */
  static long bytesPerSequence(DecoderModel model, int length) {
    return 2L * model.layers() * length * model.kvHeads() * model.headDim()
        * model.bytesPerElement() + model.vocabSize();
  }

  /** The lowest free slot, or -1 if all are taken. */
  int acquire() {
    int s = taken.nextClearBit(0);
    if (s >= slots) {
      return -1;
    }
    taken.set(s);
    return s;
  }

  void release(int slot) {
    if (slot < 0 || slot >= slots || !taken.get(slot)) {
      throw new IllegalStateException("slot " + slot + " released twice or out of range (taken "
          + taken + ", slots " + slots + ")");
    }
    taken.clear(slot);
  }

  /** Frees every slot (the engine failed all its sequences). */
  void releaseAll() {
    taken.clear();
  }

  /** Whether {@code slot} is held by a sequence. */
  boolean isTaken(int slot) {
    return taken.get(slot);
  }

  /**
   * Moves the sequences of slots {@code from[i]} into the free slots {@code to[i]}: their keys,
   * values and seen rows on the device (see the class notes), then the books ({@code from} free,
   * {@code to} taken). {@code fromIds} and {@code toIds} are the same slots as [m] int64 tensors
   * on the cache's device (the engine sends them once for this cache and the cross caches). In
   * a scope. If a device op fails, the books are unchanged and the destination rows undefined.
   *
   * @throws IllegalStateException if the arrays differ in length, a source is not taken, a
   *     destination not free, or a slot appears twice
   */
  void move(int[] from, int[] to, Tensor fromIds, Tensor toIds) {
    BitSet named = new BitSet();
    boolean ok = from.length == to.length;
    for (int i = 0; ok && i < from.length; i++) {
      ok = from[i] >= 0 && from[i] < slots && taken.get(from[i]) && to[i] >= 0 && to[i] < slots
          && !taken.get(to[i]) && !named.get(from[i]) && !named.get(to[i]);
      named.set(from[i]);
      named.set(to[i]);
    }
    if (!ok) {
      throw new IllegalStateException("cannot move slots " + java.util.Arrays.toString(from)
          + " to " + java.util.Arrays.toString(to) + ": sources must be taken and destinations"
          + " free, each named once (taken " + taken + ", slots " + slots + ")");
    }
    moveRows(keys, 1, fromIds, toIds);
    moveRows(values, 1, fromIds, toIds);
    moveRows(seen, 0, fromIds, toIds);
    for (int i = 0; i < from.length; i++) {
      taken.clear(from[i]);
      taken.set(to[i]);
    }
  }

  /** Rows {@code from} of {@code t} along {@code dim} copied into rows {@code to}, in place. */
  static void moveRows(Tensor t, long dim, Tensor from, Tensor to) {
    moveRows(t, dim, from, to, MOVE_CHUNK_BYTES);
  }

  /**
   * As above, gathering at most {@code chunkBytes} at a time (at least one row): the gather's
   * copy is device memory outside the booked caches (see the class notes), so it is bounded.
   */
  static void moveRows(Tensor t, long dim, Tensor from, Tensor to, long chunkBytes) {
    long m = from.size(0);
    long rowBytes = t.numel() / t.size(dim) * t.element_size();
    long chunk = Math.max(1, Math.min(m, chunkBytes / Math.max(1, rowBytes)));
    for (long i = 0; i < m; i += chunk) {
      long c = Math.min(chunk, m - i);
      Tensor src = chunk == m ? from : from.narrow(0, i, c);
      Tensor dst = chunk == m ? to : to.narrow(0, i, c);
      t.index_copy_(dim, dst, t.index_select(dim, src));
    }
  }

  /** Marks {@code ids} as the only tokens slot {@code slot}'s sequence holds. In a scope. */
  void resetSeen(int slot, Tensor ids) {
    Tensor row = seen.select(0, slot);
    row.fill_(new Scalar(0L));
    row.index_fill_(0, ids, new Scalar(1L));
  }

  /** Marks token {@code next[i]} as held by slot {@code slotIds[i]}. In a scope. */
  void markSeen(Tensor slotIds, Tensor next) {
    seen.view(-1).index_fill_(0, slotIds.mul(new Scalar((long) vocab)).add(next),
        new Scalar(1L));
  }

  /** The seen rows of {@code slotIds}, [B, vocab]. In a scope. */
  Tensor seenRows(Tensor slotIds) {
    return seen.index_select(0, slotIds);
  }

  Tensor keys() {
    return keys;
  }

  Tensor values() {
    return values;
  }

  int slots() {
    return slots;
  }

  /** The slot padding rows write into, never handed out; -1 if this cache has none. */
  int scratch() {
    return scratch;
  }

  int length() {
    return length;
  }

  /** Slots plus the scratch slot, if any: the first dimension after layers. */
  int rows() {
    return scratch >= 0 ? slots + 1 : slots;
  }

  int freeSlots() {
    return slots - taken.cardinality();
  }

  /** The seen rows, [rows, vocab] bool (tests read them on the scheduler thread). */
  Tensor seen() {
    return seen;
  }

  long bytes() {
    return bytes;
  }

  @Override
  public void close() {
    keys.releaseReference();
    values.releaseReference();
    seen.releaseReference();
  }
}
