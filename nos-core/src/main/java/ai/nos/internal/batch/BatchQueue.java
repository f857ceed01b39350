package ai.nos.internal.batch;

import ai.nos.Priority;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The waiting requests of one batcher, grouped by compatibility and, within a group, by priority
 * in order of arrival; and the rule that decides when a group is sent and which requests form its
 * batch. Priority is strict except in one batch of every {@link #FAIR_EVERY}, which starts with
 * the request that has waited longest, whatever its level, so that no level starves under a
 * flood of a higher one. Not thread-safe: the batcher guards it with its lock.
 */
final class BatchQueue {

  private static final int PRIORITIES = Priority.values().length;

  /**
   * Every this many batches, one is led by the oldest waiting request instead of the highest: a
   * lower level gets at least this share of the batches' first places, and the highest level
   * still leads all the others. Eight keeps priority all but strict while bounding a LOW
   * request's wait behind a HIGH flood to eight batches once it is the oldest request waiting.
   */
  static final int FAIR_EVERY = 8;

  private final BatchLayout layout;
  private final Map<ShapeKey, Group> groups = new LinkedHashMap<>();
  private int size;
  /** Batches taken so far, to find every {@link #FAIR_EVERY}th. */
  private long batches;

  /** Requests that can share a batch, one FIFO queue per priority level. */
  private static final class Group {
    final ShapeKey key;
    final ArrayDeque<Request>[] levels;
    int rows;

    @SuppressWarnings("unchecked")
    Group(ShapeKey key) {
      this.key = key;
      this.levels = new ArrayDeque[PRIORITIES];
      for (int i = 0; i < PRIORITIES; i++) {
        levels[i] = new ArrayDeque<>();
      }
    }

    /** The request a batch of this group starts with. */
    Request first() {
      for (ArrayDeque<Request> level : levels) {
        if (!level.isEmpty()) {
          return level.peekFirst();
        }
      }
      return null;
    }

    /** The request that has waited longest: the earliest-arrived head of a level. */
    Request oldest() {
      Request oldest = null;
      for (ArrayDeque<Request> level : levels) {
        Request head = level.peekFirst();
        if (head != null && (oldest == null || head.seq < oldest.seq)) {
          oldest = head;
        }
      }
      return oldest;
    }

    /** Arrival of the request that has waited longest: the oldest head of a level. */
    long oldestArrival() {
      long oldest = Long.MAX_VALUE;
      for (ArrayDeque<Request> level : levels) {
        if (!level.isEmpty()) {
          oldest = Math.min(oldest, level.peekFirst().arrival);
        }
      }
      return oldest;
    }
  }

  BatchQueue(BatchLayout layout) {
    this.layout = layout;
  }

  /** Requests waiting. */
  int size() {
    return size;
  }

  boolean isEmpty() {
    return size == 0;
  }

  /**
   * Queues {@code r} at the back of its group and level. Returns whether a sleeping worker must
   * wake: the queue was empty (its wake-up time was none) or the group just became full. Any other
   * arrival leaves the earliest wake-up time as it was, since it arrived after everyone waiting.
   */
  boolean add(Request r) {
    boolean wasEmpty = size == 0;
    Group g = groups.computeIfAbsent(r.key, Group::new);
    boolean wasFull = g.rows >= layout.fullRows;
    g.levels[r.priority.ordinal()].addLast(r);
    g.rows += r.rows;
    size++;
    return wasEmpty || (!wasFull && g.rows >= layout.fullRows);
  }

  /** Removes a waiting request; false if it is not waiting (already taken or never queued). */
  boolean remove(Request r) {
    Group g = groups.get(r.key);
    if (g == null || !g.levels[r.priority.ordinal()].remove(r)) {
      return false;
    }
    taken(g, r);
    return true;
  }

  /** Removes and returns every waiting request. */
  List<Request> removeAll() {
    List<Request> all = new ArrayList<>(size);
    for (Group g : groups.values()) {
      for (ArrayDeque<Request> level : g.levels) {
        all.addAll(level);
      }
    }
    groups.clear();
    size = 0;
    return all;
  }

  /**
   * When the next batch is due on the batcher's clock: {@link Long#MIN_VALUE} if one is due
   * whatever the time (a group is full, or {@code draining}), {@link Long#MAX_VALUE} if the queue
   * is empty, else the earliest time a group's oldest request has waited the queue delay.
   */
  long readyAt(boolean draining) {
    if (size == 0) {
      return Long.MAX_VALUE;
    }
    if (draining) {
      return Long.MIN_VALUE;
    }
    long at = Long.MAX_VALUE;
    for (Group g : groups.values()) {
      at = Math.min(at, readyAt(g));
    }
    return at;
  }

  private long readyAt(Group g) {
    if (g.rows >= layout.fullRows) {
      return Long.MIN_VALUE;
    }
    long arrival = g.oldestArrival();
    long at = arrival + layout.delayNanos;
    return at < arrival ? Long.MAX_VALUE : at;
  }

  /**
   * Takes the next batch due at {@code now}, or returns null if none is due. Of the groups due,
   * the one whose first request ranks highest goes first; in every {@link #FAIR_EVERY}th batch,
   * the one whose oldest request arrived first, and that request leads the batch. Requests whose
   * deadline has passed are moved to {@code expired} as they are met, and never join a batch.
   */
  List<Request> take(long now, boolean draining, List<Request> expired) {
    boolean fair = batches % FAIR_EVERY == FAIR_EVERY - 1;
    for (;;) {
      Group chosen = null;
      Request lead = null;
      for (Group g : groups.values()) {
        if (draining || readyAt(g) <= now) {
          Request first = fair ? g.oldest() : g.first();
          if (lead == null || (fair ? first.seq < lead.seq : first.before(lead))) {
            chosen = g;
            lead = first;
          }
        }
      }
      if (chosen == null) {
        return null;
      }
      List<Request> batch = form(chosen, now, expired, fair);
      if (!batch.isEmpty()) {
        batches++;
        return batch;
      }
    }
  }

  /**
   * The batch of a group: with {@code fair}, its oldest request first (one whose deadline passed
   * is expired, and the next oldest tried); then its requests in priority-then-arrival order up
   * to maxBatchSize rows, stopping at the first that does not fit (so none overtakes an earlier
   * one of its level or a higher one); then, with preferred sizes, cut back to the largest
   * preferred size it reaches, or without them cut back to a bucket where padding would cost
   * more.
   */
  private List<Request> form(Group g, long now, List<Request> expired, boolean fair) {
    List<Request> batch = new ArrayList<>();
    int rows = 0;
    for (Request r; fair && batch.isEmpty() && (r = g.oldest()) != null; ) {
      g.levels[r.priority.ordinal()].removeFirst();
      taken(g, r);
      if (r.deadline <= now) {
        expired.add(r);
      } else {
        batch.add(r);
        rows += r.rows;
      }
    }
    fill:
    for (ArrayDeque<Request> level : g.levels) {
      for (Iterator<Request> it = level.iterator(); it.hasNext(); ) {
        Request r = it.next();
        if (r.deadline <= now) {
          it.remove();
          taken(g, r);
          expired.add(r);
          continue;
        }
        if (rows + r.rows > layout.maxBatchSize) {
          break fill;
        }
        it.remove();
        taken(g, r);
        batch.add(r);
        rows += r.rows;
      }
    }
    cutToPreferred(g, batch, rows);
    return batch;
  }

  /**
   * Cuts a batch back to the largest preferred size it reaches; without preferred sizes, to the
   * bucket below it when padding it up would cost more rows than it leaves
   * ({@link BatchBuckets#cutTo}).
   */
  private void cutToPreferred(Group g, List<Request> batch, int rows) {
    int preferred = 0;
    for (int p : layout.preferred) {
      if (p <= rows) {
        preferred = p;
      }
    }
    if (layout.preferred.length == 0) {
      preferred = layout.buckets.cutTo(rows);
    }
    if (preferred == 0 || preferred == rows) {
      return;
    }
    int keep = 0;
    for (int kept = 0; keep < batch.size() && kept + batch.get(keep).rows <= preferred; keep++) {
      kept += batch.get(keep).rows;
    }
    for (int i = batch.size() - 1; i >= Math.max(keep, 1); i--) {
      Request r = batch.remove(i);
      groups.putIfAbsent(g.key, g);
      g.levels[r.priority.ordinal()].addFirst(r);
      g.rows += r.rows;
      size++;
    }
  }

  /** Accounts for a request leaving its group, dropping the group once empty. */
  private void taken(Group g, Request r) {
    g.rows -= r.rows;
    size--;
    if (g.rows == 0) {
      groups.remove(g.key);
    }
  }
}
