package ai.nos.hub;

import java.util.Locale;

/**
 * What the files of a catalog entry really are, as the script that exports them makes them.
 * Written in JSON as the lower-case name, e.g. {@code "look_alike"}, and shown by
 * {@link Hub#list()}, so that a model that only looks like the one its id names is never
 * mistaken for it. The builtin catalog's values come from the table
 * {@code scripts/hub/provenance.json} that {@code scripts/hub/export_models.py} dispatches on.
 */
public enum Provenance {
  /**
   * The named model's own architecture, built from its reference implementation (torchvision,
   * transformers) and its published configuration. The weights are whatever the export put in:
   * random by default, the published ones when exported with {@code --pretrained}.
   */
  ARCHITECTURE,
  /**
   * Not the named model: a stand-in with its inputs, outputs and about its size, with random
   * weights. It cannot hold the real weights and its outputs mean nothing; it exists so that the
   * task facade and the GPU can be measured without the real implementation installed.
   */
  LOOK_ALIKE,
  /** A small model of NOS's own with random weights, for tests and examples; it names no other. */
  TEST_MODEL;

  /** The name in JSON, e.g. {@code "look_alike"}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The {@link #label()}. */
  @Override
  public String toString() {
    return label();
  }
}
