package ai.nos.hub;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/*
 * One attempt to bring the bytes of a URI into a part file and verify them.
 *
 * Outcomes
 *   - returns: the part file holds exactly the expected bytes (size and sha256 checked), synced
 *     to disk, ready to be moved into the cache;
 *   - Transient: the connection failed, stalled or ended early, or the server answered a status
 *     that may change (5xx, 408, 429); what arrived is kept, so the next attempt resumes;
 *   - Restart: the bytes kept from an earlier attempt cannot be resumed (the server refused the
 *     range, answered another range, or the resumed file did not verify); the caller deletes the
 *     part and tries again from byte 0. A Restart only comes from an attempt that resumed, so a
 *     restarted attempt cannot restart again;
 *   - DownloadException: retrying cannot help (404, a checksum mismatch of a full download, a
 *     disk that is full, the deadline passed, an interrupt); a part that can never verify has
 *     been deleted, and so has any part copied from a file (a copy is never resumed).
 *
 * Bounds
 *   A transfer never takes more bytes than it may keep: the expected size when the caller knows
 *   it (the lock file or the catalog), else the downloader's maxUnknownSize; a declared length
 *   over the bound fails before the body. It never outlives the fetch's deadline: each wait for
 *   the server is cut to what is left of it, so a server that trickles a byte at a time within
 *   the read timeout still ends. A file: source must be a regular file, checked before it is
 *   opened, because opening a FIFO blocks until a writer comes, in a call no interrupt ends, and
 *   a FIFO or a device can be endless (LocalFiles).
 *
 * Interrupts end a transfer at the next chunk (or at once while it waits for the server): the
 * InterruptedException or the ClosedByInterruptException of a channel becomes a
 * DownloadException saying so, with the thread's interrupt flag set again.
 *
 * Not thread-safe: the caller holds the blob's lock.
 */
final class Transfer {

  private static final int CHUNK = 64 * 1024;
  private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");
  private static final String UNKNOWN_SIZE_CAP =
      "a download of unknown size may have (Downloader.Builder.maxUnknownSize)";

  /** Retrying may help; the part file is kept for resuming. */
  static final class Transient extends Exception {
    private static final long serialVersionUID = 1L;

    Transient(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** The kept part cannot be resumed: delete it and start again from byte 0. */
  static final class Restart extends Exception {
    private static final long serialVersionUID = 1L;

    Restart(String message) {
      super(message);
    }
  }

  /** Where the bytes come from, a chunk at a time; null at the end. */
  private interface Source {
    ByteBuffer next() throws Transient, InterruptedException;
  }

  private final URI uri;
  private final String sha256;
  private final long expectedSize;
  private final Path part;
  private final DownloadListener listener;
  private final long maxUnknownSize;
  private final Duration deadline;
  private final long deadlineNanos;

  /** Whether the current attempt's bytes are kept for the next one: over HTTP, not from a file. */
  private boolean resumable;

  /** The bytes in the part in the current attempt, for the messages of failures. */
  private long received;

  /**
   * @param deadlineNanos the {@link System#nanoTime()} by which every attempt must have ended
   * @param deadline the time from the fetch's start to {@code deadlineNanos}, for messages
   */
  Transfer(URI uri, String sha256, long expectedSize, Path part, DownloadListener listener,
      long maxUnknownSize, Duration deadline, long deadlineNanos) {
    this.uri = uri;
    this.sha256 = sha256;
    this.expectedSize = expectedSize;
    this.part = part;
    this.listener = listener;
    this.maxUnknownSize = maxUnknownSize;
    this.deadline = deadline;
    this.deadlineNanos = deadlineNanos;
  }

  /** Nanoseconds left before the deadline; zero or less once it has passed. */
  long nanosLeft() {
    return deadlineNanos - System.nanoTime();
  }

  /**
   * Copies a local file from its first byte: resuming would save nothing, so whatever way the
   * copy fails, its part is deleted.
   */
  void fromFile() throws Transient, Restart {
    resumable = false;
    received = 0;
    Path source = Paths.get(uri);
    long size = LocalFiles.regularFileSize(source, uri);
    if (expectedSize == Downloader.UNKNOWN_SIZE && size > maxUnknownSize) {
      throw new DownloadException("file " + source + " has " + size + " bytes, more than the "
          + maxUnknownSize + " bytes " + UNKNOWN_SIZE_CAP, uri);
    }
    try (FileChannel in = FileChannel.open(source, StandardOpenOption.READ)) {
      long total = expectedSize != Downloader.UNKNOWN_SIZE ? expectedSize : size;
      ByteBuffer buffer = ByteBuffer.allocate(CHUNK);
      receive(() -> {
        buffer.clear();
        try {
          return in.read(buffer) < 0 ? null : buffer.flip();
        } catch (ClosedByInterruptException e) {
          throw interruptedBy(e);
        } catch (IOException e) {
          throw new DownloadException("cannot read " + source + ": " + e, uri, e);
        }
      }, 0, total);
    } catch (IOException e) {
      deleteQuietly(e);
      throw new DownloadException("cannot read " + source + ": " + e, uri, e);
    } catch (RuntimeException | Transient | Restart e) {
      deleteQuietly(e);
      throw e;
    }
  }

  /** GETs the URI, asking for the bytes after the {@code have} bytes already in the part. */
  void fromHttp(HttpClient client, Duration readTimeout, long have) throws Transient, Restart {
    resumable = true;
    received = have;
    Duration firstWait = waitFor(readTimeout, Downloader.UNKNOWN_SIZE);
    HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(firstWait).GET();
    if (have > 0) {
      request.header("Range", "bytes=" + have + "-");
    }
    HttpResponse<Flow.Publisher<List<ByteBuffer>>> response;
    try {
      response = client.send(request.build(), HttpResponse.BodyHandlers.ofPublisher());
    } catch (HttpTimeoutException e) {
      if (firstWait.compareTo(readTimeout) < 0) {
        throw pastDeadline(Downloader.UNKNOWN_SIZE);
      }
      throw new Transient("GET " + uri + " failed: " + describe(e), e);
    } catch (IOException e) {
      throw new Transient("GET " + uri + " failed: " + describe(e), e);
    } catch (InterruptedException e) {
      throw interrupted(e);
    }
    BodyReader body = new BodyReader();
    response.body().subscribe(body);
    try {
      int status = response.statusCode();
      long offset = offset(client, response, status, have);
      long total = expectedSize != Downloader.UNKNOWN_SIZE ? expectedSize : total(response, status);
      if (expectedSize == Downloader.UNKNOWN_SIZE && total > maxUnknownSize) {
        String declared = status == 206
            ? "Content-Range '" + response.headers().firstValue("Content-Range").orElse("") + "'"
            : "Content-Length " + total;
        throw new DownloadException("GET " + uri + " answered " + HttpStatus.describe(status)
            + " with " + declared + ", more than the " + maxUnknownSize + " bytes "
            + UNKNOWN_SIZE_CAP, uri);
      }
      receive(() -> {
        Duration wait = waitFor(readTimeout, total);
        try {
          return body.next(wait);
        } catch (HttpTimeoutException e) {
          if (wait.compareTo(readTimeout) < 0) {
            throw pastDeadline(total);
          }
          throw new Transient("GET " + uri + " failed while receiving the body: " + describe(e), e);
        } catch (IOException e) {
          throw new Transient("GET " + uri + " failed while receiving the body: " + describe(e), e);
        }
      }, offset, total);
    } finally {
      body.cancel();
    }
  }

  /** The read timeout, or less where the deadline comes first; throws once it has passed. */
  private Duration waitFor(Duration readTimeout, long total) {
    long left = nanosLeft();
    if (left <= 0) {
      throw pastDeadline(total);
    }
    return left < readTimeout.toNanos() ? Duration.ofNanos(left) : readTimeout;
  }

  /** The failure of a transfer that ran out of time. */
  private DownloadException pastDeadline(long total) {
    String got = total >= 0 ? received + " of " + total + " bytes" : received + " bytes";
    return new DownloadException((resumable ? "GET " : "") + uri + " did not finish within the "
        + "deadline of " + deadline.toMillis() + " ms (" + got + " received); "
        + (resumable ? "the partial download is kept for resuming" : "nothing was kept"), uri);
  }

  /** Where in the file the body starts, from the status and headers of the response. */
  private long offset(HttpClient client, HttpResponse<?> response, int status, long have)
      throws Transient, Restart {
    if (status == 200) {
      long length = response.headers().firstValueAsLong("Content-Length").orElse(-1);
      if (length >= 0 && expectedSize != Downloader.UNKNOWN_SIZE && length != expectedSize) {
        throw new DownloadException("GET " + uri + " answered 200 OK with Content-Length "
            + length + " but the artifact has " + expectedSize + " bytes", uri);
      }
      return 0;
    }
    if (status == 206 && have > 0) {
      String range = response.headers().firstValue("Content-Range").orElse("");
      Matcher m = CONTENT_RANGE.matcher(range);
      if (!m.matches() || Long.parseLong(m.group(1)) != have) {
        throw new Restart("GET " + uri + " asked for bytes " + have + "- but got Content-Range '"
            + range + "'");
      }
      return have;
    }
    if (status == 416 && have > 0) {
      throw new Restart("GET " + uri + " answered " + HttpStatus.describe(status)
          + " for the " + have + " bytes already downloaded");
    }
    String message = "GET " + uri + " answered " + HttpStatus.describe(status);
    if (HttpStatus.isTransient(status)) {
      throw new Transient(message, null);
    }
    if (status >= 300 && status < 400) {
      message = Redirects.describe(uri, client, response);
    }
    throw new DownloadException(message, uri);
  }

  private static long total(HttpResponse<?> response, int status) {
    if (status == 206) {
      Matcher m = CONTENT_RANGE.matcher(response.headers().firstValue("Content-Range").orElse(""));
      return m.matches() && !m.group(3).equals("*")
          ? Long.parseLong(m.group(3)) : Downloader.UNKNOWN_SIZE;
    }
    return response.headers().firstValueAsLong("Content-Length").orElse(Downloader.UNKNOWN_SIZE);
  }

  /**
   * Writes the source after the first {@code offset} bytes of the part, then verifies. A source
   * that is not resumable (a local file) and ends early is a mismatch, not a transient failure.
   */
  private void receive(Source source, long offset, long total) throws Transient, Restart {
    try {
      receiveOrInterrupt(source, offset, total);
    } catch (InterruptedException e) {
      throw interrupted(e);
    }
  }

  private void receiveOrInterrupt(Source source, long offset, long total)
      throws Transient, Restart, InterruptedException {
    MessageDigest digest = sha256Digest();
    received = offset;
    if (offset > 0) {
      hashPrefix(digest, offset);
    }
    listener.started(uri, total, offset);
    long limit = expectedSize != Downloader.UNKNOWN_SIZE ? expectedSize : maxUnknownSize;
    long written = offset;
    StandardOpenOption mode =
        offset > 0 ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING;
    try (FileChannel out = open(mode)) {
      for (ByteBuffer chunk = source.next(); chunk != null; chunk = source.next()) {
        int n = chunk.remaining();
        if (written + n > limit) {
          discard(offset, uri + (expectedSize != Downloader.UNKNOWN_SIZE
              ? " has more than the expected " + expectedSize + " bytes"
              : " has more than " + maxUnknownSize + " bytes, the most " + UNKNOWN_SIZE_CAP));
        }
        if (Thread.interrupted()) {
          throw new InterruptedException();
        }
        digest.update(chunk.duplicate());
        write(out, chunk, written);
        written += n;
        received = written;
        listener.progress(uri, written, total);
        if (nanosLeft() <= 0) {
          throw pastDeadline(total);
        }
      }
      try {
        out.force(true);
      } catch (ClosedByInterruptException e) {
        throw interruptedBy(e);
      } catch (IOException e) {
        throw diskError(e, written);
      }
    } catch (ClosedByInterruptException e) {
      throw interruptedBy(e);
    } catch (IOException e) {
      throw diskError(e, written);
    }
    if (expectedSize != Downloader.UNKNOWN_SIZE && written < expectedSize) {
      if (!resumable) {
        deletePart();
        throw new DownloadException(uri + " has " + written + " bytes but the artifact has "
            + expectedSize + "; nothing was kept", uri);
      }
      throw new Transient("GET " + uri + " ended after " + written + " of " + expectedSize
          + " bytes", null);
    }
    String actual = HexFormat.of().formatHex(digest.digest());
    if (!actual.equals(sha256)) {
      discard(offset, "checksum mismatch for " + uri + ": expected sha256 " + sha256
          + " but got " + actual + " (" + written + " bytes)");
    }
  }

  private FileChannel open(StandardOpenOption mode) throws IOException {
    return FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE, mode);
  }

  private void write(FileChannel out, ByteBuffer chunk, long before)
      throws InterruptedException {
    long done = 0;
    try {
      while (chunk.hasRemaining()) {
        done += out.write(chunk);
      }
    } catch (ClosedByInterruptException e) {
      received = before + done;
      throw interruptedBy(e);
    } catch (IOException e) {
      throw diskError(e, before + done);
    }
  }

  /**
   * The InterruptedException for a channel an interrupt closed, with the interrupt flag cleared
   * as an InterruptedException's is: the code on the way out (closing the lock file) must not
   * meet it, and {@link #interrupted} sets it again.
   */
  private static InterruptedException interruptedBy(ClosedByInterruptException e) {
    Thread.interrupted();
    InterruptedException interrupt = new InterruptedException(e.toString());
    interrupt.initCause(e);
    return interrupt;
  }

  /** The failure of an interrupted transfer, with the thread's interrupt flag set again. */
  private DownloadException interrupted(InterruptedException e) {
    if (!resumable) {
      deleteQuietly(e);
    }
    Thread.currentThread().interrupt();
    return new DownloadException("interrupted while fetching " + uri + " after " + received
        + " bytes; " + (resumable ? "the partial download is kept for resuming"
            : "nothing was kept"), uri, e);
  }

  /**
   * Deletes a part that can never verify. If it was resumed the fault may lie in the kept bytes,
   * so the caller starts once more from byte 0; otherwise the download failed.
   */
  private void discard(long offset, String reason) throws Restart {
    deletePart();
    if (offset > 0) {
      throw new Restart(reason + " after resuming from byte " + offset);
    }
    throw new DownloadException(reason + "; the download was discarded", uri);
  }

  void deletePart() {
    try {
      Files.deleteIfExists(part);
    } catch (IOException e) {
      throw new DownloadException("cannot delete " + part + ": " + e, uri, e);
    }
  }

  /** Deletes the part on the way out of a failure, which a failure to delete must not hide. */
  private void deleteQuietly(Throwable failure) {
    try {
      Files.deleteIfExists(part);
    } catch (IOException e) {
      failure.addSuppressed(e);
    }
  }

  /** Feeds the first {@code length} bytes already in the part to the digest. */
  private void hashPrefix(MessageDigest digest, long length) throws InterruptedException {
    byte[] buffer = new byte[CHUNK];
    try (InputStream in = Files.newInputStream(part)) {
      long left = length;
      while (left > 0) {
        int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
        if (n < 0) {
          throw new IOException("the file ended after " + (length - left) + " bytes");
        }
        digest.update(buffer, 0, n);
        left -= n;
      }
    } catch (ClosedByInterruptException e) {
      throw interruptedBy(e);
    } catch (IOException e) {
      throw new DownloadException("cannot read the partial download " + part + ": " + e, uri, e);
    }
  }

  private DownloadException diskError(IOException e, long written) {
    String space;
    try {
      space = Files.getFileStore(part.getParent()).getUsableSpace() + " bytes";
    } catch (IOException | RuntimeException unknown) {
      space = "unknown";
    }
    return new DownloadException("cannot write " + part + " after " + written + " bytes of "
        + uri + " (usable space left: " + space + "): " + e.getMessage()
        + (resumable ? "; the partial download is kept for resuming" : "; nothing was kept"),
        uri, e);
  }

  static MessageDigest sha256Digest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  /** The first message in the chain of causes, with the class that says what happened. */
  static String describe(Throwable e) {
    StringBuilder s = new StringBuilder();
    if (e instanceof ConnectException) {
      s.append("cannot connect: ");
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      s.append(t.getClass().getSimpleName());
      if (t.getMessage() != null) {
        return s.append(": ").append(t.getMessage()).toString();
      }
      if (t.getCause() != null) {
        s.append(" <- ");
      }
    }
    return s.toString();
  }
}
