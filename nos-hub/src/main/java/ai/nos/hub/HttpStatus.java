package ai.nos.hub;

import java.util.Map;

/** Reason phrases, which java.net.http does not expose, for the statuses a download meets. */
final class HttpStatus {

  private static final Map<Integer, String> REASONS = Map.ofEntries(
      Map.entry(200, "OK"),
      Map.entry(206, "Partial Content"),
      Map.entry(301, "Moved Permanently"),
      Map.entry(302, "Found"),
      Map.entry(303, "See Other"),
      Map.entry(304, "Not Modified"),
      Map.entry(307, "Temporary Redirect"),
      Map.entry(308, "Permanent Redirect"),
      Map.entry(400, "Bad Request"),
      Map.entry(401, "Unauthorized"),
      Map.entry(403, "Forbidden"),
      Map.entry(404, "Not Found"),
      Map.entry(405, "Method Not Allowed"),
      Map.entry(408, "Request Timeout"),
      Map.entry(410, "Gone"),
      Map.entry(416, "Range Not Satisfiable"),
      Map.entry(429, "Too Many Requests"),
      Map.entry(500, "Internal Server Error"),
      Map.entry(501, "Not Implemented"),
      Map.entry(502, "Bad Gateway"),
      Map.entry(503, "Service Unavailable"),
      Map.entry(504, "Gateway Timeout"));

  private HttpStatus() {}

  /** The status with its reason phrase, e.g. {@code "404 Not Found"}, or the bare code. */
  static String describe(int status) {
    String reason = REASONS.get(status);
    return reason == null ? Integer.toString(status) : status + " " + reason;
  }

  /** Whether a later attempt may get another answer: timeouts, rate limits, server errors. */
  static boolean isTransient(int status) {
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503
        || status == 504;
  }
}
