package ai.nos;

/** How a {@link ModelManager} chooses the device for a new copy of a model. */
public enum Placement {
  /**
   * The device the copy fits most tightly (least memory left after placing): packs models onto
   * few devices and keeps large holes free for large models. Loading many specs at once with
   * {@link ModelManager#loadAll} places them largest first (best-fit decreasing).
   */
  BEST_FIT,
  /** The device with the most memory left after placing: spreads models, and so load. */
  SPREAD
}
