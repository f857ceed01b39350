package ai.nos.hub;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/*
 * Why a download ended on a redirect status. The HttpClient follows redirects itself, up to a
 * limit (jdk.httpclient.redirects.retrylimit), and hands back the last 3xx when it stops; the
 * responses it followed are chained through previousResponse(), so the whole path can be told:
 * a loop, a chain too long, a downgrade from https to http that Redirect.NORMAL refuses, or a
 * client that follows none.
 */
final class Redirects {

  private Redirects() {}

  /** What happened, for a message that starts with {@code "GET <uri>"}. */
  static String describe(URI uri, HttpClient client, HttpResponse<?> response) {
    int status = response.statusCode();
    Optional<String> location = response.headers().firstValue("Location");
    String answered = "GET " + uri + " answered " + HttpStatus.describe(status);
    if (location.isEmpty()) {
      return answered + " without a Location header";
    }
    if (client.followRedirects() == HttpClient.Redirect.NEVER) {
      return answered + " (to " + location.get() + "); the HttpClient does not follow redirects";
    }
    URI next;
    try {
      next = response.uri().resolve(location.get());
    } catch (IllegalArgumentException e) {
      return answered + " to the malformed Location '" + Checks.shorten(location.get()) + "'";
    }
    List<URI> path = new ArrayList<>();
    for (Optional<? extends HttpResponse<?>> r = Optional.of(response); r.isPresent();
        r = r.get().previousResponse()) {
      path.add(r.get().uri());
    }
    Collections.reverse(path);
    int followed = path.size() - 1;
    URI last = path.get(followed);
    boolean downgrade =
        "https".equalsIgnoreCase(last.getScheme()) && "http".equalsIgnoreCase(next.getScheme());
    if (downgrade && client.followRedirects() == HttpClient.Redirect.NORMAL) {
      return "GET " + uri + ": the redirect from " + last + " to " + next + " (https to http) is "
          + "refused by the HttpClient's policy Redirect.NORMAL";
    }
    if (followed == 0) {
      return answered + " (to " + location.get() + "), which the HttpClient does not follow";
    }
    path.add(next);
    String gaveUp = " (the HttpClient gave up after following " + followed + " redirects)";
    for (int j = 1; j < path.size(); j++) {
      if (path.subList(0, j).contains(path.get(j))) {
        return "GET " + uri + ": redirect loop " + join(path.subList(0, j + 1)) + gaveUp;
      }
    }
    return "GET " + uri + ": too many redirects " + join(path) + gaveUp;
  }

  private static String join(List<URI> uris) {
    StringBuilder s = new StringBuilder();
    for (URI u : uris) {
      s.append(s.length() == 0 ? "" : " -> ").append(u);
    }
    return s.toString();
  }
}
