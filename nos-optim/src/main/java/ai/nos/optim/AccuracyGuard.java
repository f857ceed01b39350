package ai.nos.optim;

import ai.nos.Model;
import ai.nos.ModelSpec;
import ai.nos.Precision;
import ai.nos.Tensor;
import ai.nos.internal.Accuracy;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks that an optimization kept a model's results: the optimized model and the eager fp32
 * model run on the same random inputs, and the optimized one is used only if every output stays
 * within a bound of the reference.
 *
 * <pre>{@code
 * try (Model eager = Nos.load(spec); Model fast = Nos.load(spec.toBuilder()
 *     .precision(Precision.BF16).build())) {
 *   GuardResult r = AccuracyGuard.verify(eager, fast, "bf16", 4, 42);
 *   if (!r.passed()) { ... keep the eager model ... }
 * }
 * }</pre>
 *
 * <h2>The metric</h2>
 * For each output, with {@code b} the reference and {@code a} the candidate, over all elements:
 * <pre>  error = max |a - b| / max |b|</pre>
 * the largest deviation relative to the largest magnitude of the reference (one scale for the
 * whole tensor, so near-zero elements do not blow the error up, as an element-wise relative error
 * would). When the reference is all zeros the absolute error {@code max |a - b|} is used.
 * Integer and bool outputs are compared the same way on their values (bool as 0 and 1).
 * Elements where the reference is NaN or infinite are left out of both maxima and must be the
 * same non-finite value in the candidate. A candidate that is NaN or infinite where the reference
 * is finite never passes, whatever the threshold. Outputs must have the same names, dtypes and
 * shapes as the reference's; a mismatch fails and names the output.
 *
 * <h2>Thresholds</h2>
 * {@value #FP32_THRESHOLD} for a candidate running in fp32 (freezing, fusing, graph capture and
 * the like should change results only by rounding) and {@value #HALF_THRESHOLD} for fp16 and
 * bf16, whose 8- and 11-bit mantissas cannot do better on deep models.
 *
 * <p>All methods are static, stateless and thread-safe.
 */
public final class AccuracyGuard {
  private static final Logger LOG = LoggerFactory.getLogger(AccuracyGuard.class);

  /** The largest error that passes for a candidate in {@link Precision#FP32}. */
  public static final double FP32_THRESHOLD = Accuracy.FP32_THRESHOLD;
  /** The largest error that passes for a candidate in {@link Precision#FP16} or BF16. */
  public static final double HALF_THRESHOLD = Accuracy.HALF_THRESHOLD;
  /** The size {@link #verify} gives dynamic dimensions other than the batch dimension. */
  public static final int DEFAULT_DYNAMIC_SIZE = 8;
  /**
   * The exclusive upper bound of random integer inputs when none is given: 2, so that the values
   * are valid indices and token ids for any model.
   */
  public static final int DEFAULT_INT_BOUND = 2;

  private AccuracyGuard() {}

  /**
   * The largest error that passes at {@code precision}: {@value #FP32_THRESHOLD} for FP32,
   * {@value #HALF_THRESHOLD} for FP16 and BF16.
   *
   * @throws IllegalArgumentException if {@code precision} is null
   */
  public static double threshold(Precision precision) {
    requireNonNull(precision, "precision");
    return Accuracy.threshold(precision);
  }

  /**
   * Compares a candidate's outputs with the reference's (see the class comment for the metric).
   *
   * @param reference the outputs of the eager fp32 model, by name; not empty
   * @param candidate the outputs of the optimized model on the same inputs, by name
   * @param precision the precision the candidate ran in; it chooses the {@link #threshold}
   * @return the verdict; it names the output that decided it
   * @throws IllegalArgumentException if an argument, an output name or an output tensor is null,
   *     or the reference is empty
   */
  public static GuardResult check(Map<String, Tensor> reference, Map<String, Tensor> candidate,
      Precision precision) {
    requireNonNull(reference, "reference");
    requireNonNull(candidate, "candidate");
    requireEntries(reference, "reference");
    requireEntries(candidate, "candidate");
    return check(reference, candidate, precision, threshold(precision));
  }

  /** As {@link #check(Map, Map, Precision)} with a threshold of the caller's (INT8's). */
  static GuardResult check(Map<String, Tensor> reference, Map<String, Tensor> candidate,
      Precision precision, double threshold) {
    if (reference.isEmpty()) {
      throw new IllegalArgumentException("reference must hold at least one output");
    }
    Map<String, Double> errors = new LinkedHashMap<>();
    String worst = null;
    double worstError = -1;
    String worstProblem = null;
    for (Map.Entry<String, Tensor> e : reference.entrySet()) {
      String name = e.getKey();
      Tensor cand = candidate.get(name);
      String problem = cand == null
          ? "is missing from the candidate, whose outputs are " + candidate.keySet()
          : Accuracy.mismatch(e.getValue(), cand);
      double error = Double.POSITIVE_INFINITY;
      if (problem == null) {
        Accuracy.Comparison c = Accuracy.compare(e.getValue(), cand);
        error = c.error();
        problem = c.problem();
      }
      errors.put(name, error);
      if (error > worstError) {
        worst = name;
        worstError = error;
        worstProblem = problem;
      }
    }
    if (worstProblem == null) {
      for (String name : candidate.keySet()) {
        if (!reference.containsKey(name)) {
          return new GuardResult(precision, threshold, errors, name, Double.POSITIVE_INFINITY,
              "is not among the reference's outputs " + reference.keySet());
        }
      }
    }
    return new GuardResult(precision, threshold, errors, worst, worstError, worstProblem);
  }

  /**
   * Random inputs for a spec's signature, as {@link #randomInputs(ModelSpec, int, int, int, long)}
   * with integer inputs below {@value #DEFAULT_INT_BOUND}.
   */
  public static Map<String, Tensor> randomInputs(ModelSpec spec, int batch, int dynamicSize,
      long seed) {
    return randomInputs(spec, batch, dynamicSize, DEFAULT_INT_BOUND, seed);
  }

  /**
   * Random inputs for a spec's signature, the same for the same arguments on every JVM (they come
   * from {@link java.util.Random}, whose algorithm is specified). A dynamic batch dimension (the
   * first) gets {@code batch}, other dynamic dimensions {@code dynamicSize}, fixed ones their size.
   * Floating-point inputs are drawn from N(0, 1) (rounded for float16 and bfloat16), int64 and
   * int32 inputs uniformly from {@code [0, intBound)}, uint8 from {@code [0, min(intBound, 256))},
   * bool inputs are fair coin flips. One generator serves the inputs in signature order.
   *
   * @return one tensor per input, in signature order; unmodifiable
   * @throws IllegalArgumentException if {@code spec} is null, {@code batch}, {@code dynamicSize}
   *     or {@code intBound} is below 1, or an input would exceed a tensor's size limit
   */
  public static Map<String, Tensor> randomInputs(ModelSpec spec, int batch, int dynamicSize,
      int intBound, long seed) {
    requireNonNull(spec, "spec");
    positive(batch, "batch");
    positive(dynamicSize, "dynamicSize");
    positive(intBound, "intBound");
    return Accuracy.randomInputs(spec, batch, dynamicSize, intBound, seed);
  }

  /**
   * Runs the eager fp32 {@code reference} and the optimized {@code candidate} on the same random
   * inputs ({@link #randomInputs(ModelSpec, int, int, long)} of the reference's spec, dynamic
   * dimensions {@value #DEFAULT_DYNAMIC_SIZE}) and {@linkplain #check checks} the candidate at its
   * spec's precision. Logs the verdict: INFO when it passes, and when it does not, at WARN,
   * {@code optimization step 'bf16' rejected for model 'digits': output 'logits' relative error
   * 0.034 > 0.01}. The models are not closed.
   *
   * @param stepName the optimization that made the candidate, for the log and messages
   * @param batch the batch size of the inputs, {@code >= 1}
   * @param seed the seed of the inputs
   * @return the verdict
   * @throws IllegalArgumentException if an argument is null, the step name blank, the batch below
   *     1, the reference not fp32, or the two models' inputs differ
   * @throws OptimizationException if the candidate fails to run on the inputs (the step broke
   *     it; the cause is its exception)
   * @throws ai.nos.NosException if the reference fails to run
   */
  public static GuardResult verify(Model reference, Model candidate, String stepName, int batch,
      long seed) {
    checkPair(reference, candidate, stepName);
    Map<String, Tensor> inputs = randomInputs(reference.spec(), batch, DEFAULT_DYNAMIC_SIZE, seed);
    Precision precision = candidate.spec().precision();
    return logged(run(reference, candidate, stepName, inputs, threshold(precision)), stepName,
        candidate.spec());
  }

  /**
   * As {@link #verify(Model, Model, String, int, long)} on given inputs instead of random ones,
   * each one call of both models, at a given threshold: the verdict on the worst call (the first
   * that failed, else the largest error). The INT8 step's guard, on its calibration batches.
   */
  static GuardResult verify(Model reference, Model candidate, String stepName,
      List<Map<String, Tensor>> inputs, double threshold) {
    checkPair(reference, candidate, stepName);
    if (inputs.isEmpty()) {
      throw new IllegalArgumentException("the guard needs at least one input batch");
    }
    GuardResult worst = null;
    for (Map<String, Tensor> call : inputs) {
      GuardResult r = run(reference, candidate, stepName, call, threshold);
      if (worst == null || !r.passed() || r.error() > worst.error()) {
        worst = r;
      }
      if (!r.passed()) {
        break;
      }
    }
    return logged(worst, stepName, candidate.spec());
  }

  private static void checkPair(Model reference, Model candidate, String stepName) {
    requireNonNull(reference, "reference");
    requireNonNull(candidate, "candidate");
    if (stepName == null || stepName.isBlank()) {
      throw new IllegalArgumentException("stepName must not be null or blank");
    }
    ModelSpec ref = reference.spec();
    ModelSpec cand = candidate.spec();
    if (ref.precision() != Precision.FP32) {
      throw new IllegalArgumentException("the reference must run in fp32 but model '" + ref.id()
          + "' runs in " + ref.precision());
    }
    if (!ref.signature().inputs().equals(cand.signature().inputs())) {
      throw new IllegalArgumentException("step '" + stepName + "' changed the inputs of model '"
          + ref.id() + "': " + ref.signature().inputs() + " became " + cand.signature().inputs());
    }
  }

  /** Both models on {@code inputs}, the candidate checked at {@code threshold}. */
  private static GuardResult run(Model reference, Model candidate, String stepName,
      Map<String, Tensor> inputs, double threshold) {
    Map<String, Tensor> expected = reference.infer(inputs);
    Map<String, Tensor> actual;
    try {
      actual = candidate.infer(inputs);
    } catch (RuntimeException e) {
      String message = "optimization step '" + stepName + "' rejected for model '"
          + candidate.spec().id() + "': it fails on the guard's inputs: " + e.getMessage();
      LOG.warn(message);
      throw new OptimizationException(message, e);
    }
    return check(expected, actual, candidate.spec().precision(), threshold);
  }

  private static GuardResult logged(GuardResult result, String stepName, ModelSpec cand) {
    if (result.passed()) {
      LOG.info("optimization step '{}' passed the accuracy guard for model '{}': {}", stepName,
          cand.id(), result);
    } else {
      LOG.warn("optimization step '{}' rejected for model '{}': {}", stepName, cand.id(), result);
    }
    return result;
  }

  private static void positive(int value, String name) {
    if (value < 1) {
      throw new IllegalArgumentException(name + " must be >= 1 but was " + value);
    }
  }

  /** Fails, naming the map and the output, on a null name or tensor in {@code outputs}. */
  private static void requireEntries(Map<String, Tensor> outputs, String name) {
    for (Map.Entry<String, Tensor> e : outputs.entrySet()) {
      if (e.getKey() == null) {
        throw new IllegalArgumentException(name + "'s output names must not be null");
      }
      if (e.getValue() == null) {
        throw new IllegalArgumentException(name + "['" + e.getKey() + "'] must not be null");
      }
    }
  }

  private static void requireNonNull(Object value, String name) {
    if (value == null) {
      throw new IllegalArgumentException(name + " must not be null");
    }
  }
}
