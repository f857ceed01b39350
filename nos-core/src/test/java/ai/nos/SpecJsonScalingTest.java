package ai.nos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The {@code scaling} object of spec JSON and the policy's checks. */
final class SpecJsonScalingTest {
  static final String HEAD = "{\"id\": \"m\", \"artifact\": {\"uri\": \"m.pt\"}, \"signature\":"
      + " {\"inputs\": [{\"name\": \"x\", \"dtype\": \"float32\", \"shape\": [-1, 2]}],"
      + " \"outputs\": [{\"name\": \"y\", \"dtype\": \"float32\", \"shape\": [-1]}]}";

  static ModelSpec parse(String scaling) {
    return ModelSpec.fromJson(HEAD + ", \"scaling\": " + scaling + "}");
  }

  @Test
  void parsesEveryField_andWritesItBack() {
    ModelSpec spec = parse("{\"minReplicas\": 2, \"maxReplicas\": 5, \"target\":"
        + " \"p99LatencyMicros\", \"value\": 20000, \"windowMillis\": 30000, \"upWindowMillis\":"
        + " 2000}");
    ScalingPolicy p = spec.scaling().orElseThrow();
    assertEquals(ScalingPolicy.p99Latency(2, 5, Duration.ofMillis(20))
        .window(Duration.ofSeconds(30)).upWindow(Duration.ofSeconds(2)), p);
    assertEquals(spec, ModelSpec.fromJson(spec.toJson()));
  }

  @Test
  void defaults_queueDepthFromOne_aMinuteWindow() {
    ScalingPolicy p = parse("{\"maxReplicas\": 3, \"value\": 4}").scaling().orElseThrow();
    assertEquals(ScalingPolicy.queueDepth(1, 3, 4), p);
    assertEquals(Duration.ofSeconds(60), p.window());
  }

  @Test
  void badInput_namesTheFieldAndWhatWasGiven() {
    assertMessage("$.scaling.target must be queueDepth or p99LatencyMicros but was 'cpu'",
        "{\"maxReplicas\": 3, \"value\": 4, \"target\": \"cpu\"}");
    assertMessage("$.scaling needs 1 <= minReplicas <= maxReplicas but was minReplicas 3,"
        + " maxReplicas 2", "{\"minReplicas\": 3, \"maxReplicas\": 2, \"value\": 4}");
    assertMessage("$.scaling target value (queueDepth) must be a positive number but was -1.0",
        "{\"maxReplicas\": 3, \"value\": -1}");
    assertMessage("$.scaling.windowMillis must be in [0, 86400000] but was -5",
        "{\"maxReplicas\": 3, \"value\": 1, \"windowMillis\": -5}");
    assertMessage("maxReplicas", "{\"value\": 1}");
    assertMessage("bogus", "{\"maxReplicas\": 3, \"value\": 1, \"bogus\": 1}");
  }

  @Test
  void replicasAboveMax_isRefusedAtBuild() {
    ModelSpec spec = parse("{\"maxReplicas\": 2, \"value\": 4}");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> spec.toBuilder().replicas(3).build());
    assertTrue(e.getMessage().contains("at most the scaling policy's maxReplicas (2) but was 3"),
        e.getMessage());
  }

  @Test
  void javaWindowsAboveADay_areRefusedAsInJson_namingTheValue() {
    // Accepted before: the spec's JSON then failed to parse back, and each scaling tick threw
    // ArithmeticException (the window in nanoseconds overflows), stopping every model's scaling.
    ScalingPolicy p = ScalingPolicy.queueDepth(1, 2, 4);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> p.window(Duration.ofDays(110_000)));
    assertEquals("scaling window must be at most a day (PT24H) but was PT2640000H",
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> p.upWindow(Duration.ofHours(25)));
    assertEquals("scaling upWindow must be at most a day (PT24H) but was PT25H", e.getMessage());
    assertEquals(Duration.ofDays(1), p.window(Duration.ofDays(1)).window());
    ModelSpec spec = parse("{\"maxReplicas\": 2, \"value\": 4, \"windowMillis\": 86400000}");
    assertEquals(spec, ModelSpec.fromJson(spec.toJson()));
    // A bound of centuries is a number of microseconds, not an ArithmeticException.
    assertEquals(110_000 * 86_400e6,
        ScalingPolicy.p99Latency(1, 2, Duration.ofDays(110_000)).value());
    assertEquals(20_000.0, ScalingPolicy.p99Latency(1, 2, Duration.ofMillis(20)).value());
  }

  /**
   * A window finer than a millisecond was written to JSON as whole milliseconds, so
   * {@code fromJson(toJson())} no longer equalled the spec: refused, naming the value.
   */
  @Test
  void javaWindowsFinerThanAMillisecond_areRefused_soTheJsonRoundTripHolds() {
    ScalingPolicy p = ScalingPolicy.queueDepth(1, 2, 4);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> p.window(Duration.ofNanos(1_500_000)));
    assertEquals("scaling window must be whole milliseconds (the spec JSON's windowMillis) but"
        + " was PT0.0015S", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> p.upWindow(Duration.ofNanos(1)));
    assertEquals(Duration.ofMillis(1500), p.window(Duration.ofMillis(1500)).window());
  }

  static void assertMessage(String part, String scaling) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> parse(scaling));
    assertTrue(e.getMessage().contains(part), e.getMessage());
  }
}
