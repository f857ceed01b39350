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
 * batch. Not thread-safe: the batcher guards it with its lock.
 */
final class BatchQueue {

  private static final int PRIORITIES = Priority.values().length;

  private final BatchLayout layout;
  private final Map<ShapeKey, Group> groups = new LinkedHashMap<>();
  private int size;

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
   * the one whose first request ranks highest goes first. Requests whose deadline has passed are
   * moved to {@code expired} as they are met, and never join a batch.
   */
  List<Request> take(long now, boolean draining, List<Request> expired) {
    for (;;) {
      Group chosen = null;
      Request lead = null;
      for (Group g : groups.values()) {
        if (draining || readyAt(g) <= now) {
          Request first = g.first();
          if (lead == null || first.before(lead)) {
            chosen = g;
            lead = first;
          }
        }
      }
      if (chosen == null) {
        return null;
      }
      List<Request> batch = form(chosen, now, expired);
      if (!batch.isEmpty()) {
        return batch;
      }
    }
  }

  /**
   * The batch of a group: its requests in priority-then-arrival order up to maxBatchSize rows,
   * stopping at the first that does not fit (so none overtakes an earlier one of its level or a
   * higher one); then, with preferred sizes, cut back to the largest preferred size it reaches,
   * or without them cut back to a bucket where padding would cost more.
   */
  private List<Request> form(Group g, long now, List<Request> expired) {
    List<Request> batch = new ArrayList<>();
    int rows = 0;
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
