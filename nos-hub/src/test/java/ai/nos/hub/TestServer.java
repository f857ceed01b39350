package ai.nos.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The JDK's HTTP server on 127.0.0.1 with an ephemeral port, serving fixtures from memory with
 * the behaviours the download tests need, and recording every request.
 */
final class TestServer implements AutoCloseable {

  /** A request as the server saw it: the path and the Range header (null if none). */
  record Request(String path, String range) {}

  /** What a path answers. */
  interface Behaviour {
    void answer(HttpExchange exchange, int nth) throws IOException;
  }

  private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");

  private final HttpServer server;
  private final ExecutorService executor = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "test-http");
    t.setDaemon(true);
    return t;
  });
  private final Map<String, Behaviour> behaviours = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> counts = new ConcurrentHashMap<>();
  private final List<Request> requests = new ArrayList<>();

  TestServer() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setExecutor(executor);
    server.createContext("/", this::handle);
    server.start();
  }

  URI uri(String path) {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + path);
  }

  TestServer on(String path, Behaviour behaviour) {
    behaviours.put(path, behaviour);
    return this;
  }

  synchronized List<Request> requests() {
    return List.copyOf(requests);
  }

  synchronized List<Request> requests(String path) {
    return requests.stream().filter(r -> r.path().equals(path)).toList();
  }

  private void handle(HttpExchange exchange) throws IOException {
    String path = exchange.getRequestURI().getPath();
    synchronized (this) {
      requests.add(new Request(path, exchange.getRequestHeaders().getFirst("Range")));
    }
    int nth = counts.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
    Behaviour behaviour = behaviours.get(path);
    try (exchange) {
      if (behaviour == null) {
        exchange.sendResponseHeaders(404, -1);
      } else {
        behaviour.answer(exchange, nth);
      }
    }
  }

  /** Serves the bytes, honouring {@code Range: bytes=N-} with 206. */
  static Behaviour bytes(byte[] body) {
    return (exchange, nth) -> send(exchange, body, true);
  }

  /** Serves the bytes with 200 whatever the Range header says. */
  static Behaviour ignoringRange(byte[] body) {
    return (exchange, nth) -> send(exchange, body, false);
  }

  /** Serves the bytes with chunked encoding: no Content-Length, no ranges. */
  static Behaviour chunked(byte[] body) {
    return (exchange, nth) -> {
      exchange.sendResponseHeaders(200, 0);
      exchange.getResponseBody().write(body);
    };
  }

  /** Answers a status with no body. */
  static Behaviour status(int code) {
    return (exchange, nth) -> exchange.sendResponseHeaders(code, -1);
  }

  /**
   * The first request gets the headers of the whole body and its first {@code cut} bytes, then
   * the connection is closed; later requests are served by {@link #bytes}.
   */
  static Behaviour cutOnce(byte[] body, int cut) {
    return (exchange, nth) -> {
      if (nth > 1) {
        send(exchange, body, true);
        return;
      }
      exchange.sendResponseHeaders(200, body.length);
      OutputStream out = exchange.getResponseBody();
      out.write(body, 0, cut);
      out.flush();
      // Too few bytes for the Content-Length: the server drops the connection.
      throw new IOException("cut after " + cut + " bytes on purpose");
    };
  }

  /** Sends the headers and the first {@code head} bytes, then stalls for {@code millis}. */
  static Behaviour stalling(byte[] body, int head, long millis) {
    return (exchange, nth) -> {
      exchange.sendResponseHeaders(200, body.length);
      OutputStream out = exchange.getResponseBody();
      out.write(body, 0, head);
      out.flush();
      sleep(millis);
      out.write(body, head, body.length - head);
    };
  }

  /** Waits {@code millis} before serving, so that concurrent clients overlap. */
  static Behaviour slow(Behaviour then, long millis) {
    return (exchange, nth) -> {
      sleep(millis);
      then.answer(exchange, nth);
    };
  }

  private static void send(HttpExchange exchange, byte[] body, boolean ranges)
      throws IOException {
    String range = exchange.getRequestHeaders().getFirst("Range");
    Matcher m = range == null ? null : RANGE.matcher(range);
    if (ranges && m != null && m.matches()) {
      int from = Integer.parseInt(m.group(1));
      if (from >= body.length) {
        exchange.getResponseHeaders().set("Content-Range", "bytes */" + body.length);
        exchange.sendResponseHeaders(416, -1);
        return;
      }
      exchange.getResponseHeaders().set("Content-Range",
          "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
      exchange.sendResponseHeaders(206, body.length - from);
      exchange.getResponseBody().write(body, from, body.length - from);
      return;
    }
    exchange.sendResponseHeaders(200, body.length == 0 ? -1 : body.length);
    exchange.getResponseBody().write(body);
  }

  private static void sleep(long millis) throws IOException {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
