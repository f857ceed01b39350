/**
 * The model hub: a catalog of popular models and verified downloads of their files.
 *
 * <ul>
 *   <li>{@link ai.nos.hub.Catalog} and {@link ai.nos.hub.CatalogEntry}: models by id, with their
 *       task ({@link ai.nos.hub.Task}), files ({@link ai.nos.hub.CatalogArtifact}), signature,
 *       default precision and the settings of their task ({@link ai.nos.hub.ImagePreprocessing},
 *       {@link ai.nos.hub.TextPreprocessing}, {@link ai.nos.hub.DetectionPostprocessing},
 *       labels). Read from JSON: the builtin catalog in this jar, user catalogs from a file or
 *       a URI, merged over it.
 *   <li>{@link ai.nos.hub.Hub}: a catalog that custom models register into, and
 *       {@link ai.nos.hub.Hub#spec} from an id to a {@link ai.nos.ModelSpec} whose model file is
 *       downloaded and verified.
 *   <li>{@link ai.nos.hub.Downloader}: resumable downloads into a cache keyed by SHA-256,
 *       verified before they are moved into place, safe across threads and processes, bounded
 *       in size (the expected size, or a cap where it is unknown) and in time (a deadline), with
 *       an offline mode; {@link ai.nos.hub.DownloadListener} and
 *       {@link ai.nos.hub.ConsoleProgress} report progress; failures are
 *       {@link ai.nos.hub.DownloadException}s.
 *   <li>Task facades over a loaded model and its entry: {@link ai.nos.hub.ImageClassifier},
 *       {@link ai.nos.hub.ImageEmbedder}, {@link ai.nos.hub.TextEmbedder} (HuggingFace
 *       tokenizers through DJL) and {@link ai.nos.hub.ObjectDetector} (YOLOv8 decoding and
 *       class-wise NMS), and {@link ai.nos.hub.TextGenerator} (a decoder-only language model
 *       over nos-core's {@code TokenGenerator}, streaming as a callback or
 *       {@link ai.nos.hub.TextPieces}), answering {@link ai.nos.hub.Classification}s, vectors and
 *       {@link ai.nos.hub.Detection}s; images come as {@link ai.nos.hub.RgbImage}s. The
 *       facades' {@code load} methods give an image model a uint8 pixel input
 *       ({@code [1, height, width, 3]}) that nos-core pre-processes on the model's device, as
 *       an {@link ai.nos.ImageInput} built from the entry's
 *       {@link ai.nos.hub.ImagePreprocessing} says (resize, crop or letterbox, normalize, with
 *       libtorch's antialiased resampling), so only the decoded pixels cross to the device. A
 *       model that batches its calls, or one the application loaded itself with a float32
 *       input (the facades' {@code of} methods), gets its images prepared on the CPU in Java
 *       instead, matching the pipeline's resampling (Pillow's, or torchvision's on uint8
 *       tensors, as the entry says); that path is the reference the device path is
 *       tested against.
 * </ul>
 *
 * <h2>Where the builtin models come from</h2>
 *
 * NOS hosts no model files. The export scripts ({@code scripts/hub/export_*.py}) write each
 * model's files under a base directory as {@code <base>/<path>} where the builtin catalog names
 * them {@code {baseUri}/<path>}, for example {@code <base>/torchvision/resnet50/model.pt}, and
 * beside each file its lock file {@code <file>.lock.json}:
 * {@code {"sha256": "<64 lower-case hex>", "size": <bytes>}}. Point
 * {@link ai.nos.hub.Hub.Builder#baseUri} (or the system property {@code nos.hub.baseUri}) at
 * that directory, or at a server that serves it, and {@link ai.nos.hub.Hub#spec} fetches the
 * lock file, then the file, verified against it. Until the export has run, the builtin entries
 * describe models that cannot be downloaded.
 *
 * <p>Everything here is thread-safe except builders.
 */
package ai.nos.hub;
