package ai.nos.optim;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Whether an ONNX model keeps tensors in external data files (a {@code TensorProto} with
 * {@code data_location = EXTERNAL}, its bytes in a file such as {@code model.onnx.data} named by
 * its {@code location} entry). The TensorRT step parses a private copy of the model file, in a
 * private folder, so that what is built is what was hashed; an external data file beside the
 * original is neither there nor in the hash, so such a model is refused up front with a reason
 * rather than failing inside the parser (or, were the original parsed, building weights no digest
 * covers).
 *
 * <p>A schema-directed walk of the protobuf wire format over the messages that can hold a tensor:
 * the model's graph and functions, their nodes' attributes (tensors and subgraphs), initializers
 * and sparse initializers. Raw tensor bytes are skipped, never parsed. One instance per walk, on
 * one thread; the static entry point is thread-safe.
 */
final class OnnxExternalData {
  private static final int VARINT = 0;
  private static final int FIXED64 = 1;
  private static final int BYTES = 2;
  private static final int FIXED32 = 5;
  /** Subgraphs nest (an If in a Loop ...); deeper than this is not a model but an attack. */
  private static final int MAX_DEPTH = 64;

  private enum Kind { MODEL, GRAPH, FUNCTION, NODE, ATTRIBUTE, SPARSE, TENSOR }

  /** The model's bytes, and where the walk is in them: one walk, one thread. */
  private final ByteBuffer b;
  private int at;

  private OnnxExternalData(ByteBuffer b) {
    this.b = b;
  }

  /**
   * The {@code location} of the first tensor in {@code onnx} whose data is external
   * ({@code "(no location)"} when it names none), or null when every tensor is inside the file.
   * Read from {@code onnx}, which the caller owns (the private copy): it must not change meanwhile.
   *
   * @throws IOException if the file cannot be read, is over 2 GiB (protobuf's limit for a model
   *     without external data) or is not protobuf where an ONNX model has it; the message says
   *     which
   */
  static String firstLocation(Path onnx) throws IOException {
    try (RandomAccessFile file = new RandomAccessFile(onnx.toFile(), "r");
        FileChannel channel = file.getChannel()) {
      long size = channel.size();
      if (size > Integer.MAX_VALUE) {
        throw new IOException("an ONNX file without external data is at most 2 GiB but " + onnx
            + " has " + size + " bytes");
      }
      ByteBuffer bytes = channel.map(FileChannel.MapMode.READ_ONLY, 0, size);
      return new OnnxExternalData(bytes).walk((int) size, Kind.MODEL, 0);
    } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
      throw new IOException(onnx + " is not an ONNX model's protobuf: " + e.getMessage(), e);
    }
  }

  /** Walks the {@code kind} message from {@link #at} to {@code to}. */
  private String walk(int to, Kind kind, int depth) throws IOException {
    if (depth > MAX_DEPTH) {
      throw new IOException("messages nest deeper than " + MAX_DEPTH);
    }
    boolean external = false;
    String location = null;
    while (at < to) {
      long tag = varint(to);
      int field = (int) (tag >>> 3);
      int wire = (int) (tag & 7);
      if (wire == VARINT) {
        long value = varint(to);
        if (kind == Kind.TENSOR && field == 14 && value == 1) {
          external = true;
        }
      } else if (wire == FIXED64 || wire == FIXED32) {
        at += wire == FIXED64 ? 8 : 4;
      } else if (wire == BYTES) {
        int end = length(to);
        Kind child = child(kind, field);
        if (kind == Kind.TENSOR && field == 13) {
          external = true;
          String named = locationEntry(end);
          location = location != null ? location : named;
        } else if (child != null) {
          String found = walk(end, child, depth + 1);
          if (found != null) {
            return found;
          }
        }
        at = end;
      } else {
        throw new IllegalArgumentException("wire type " + wire + " before byte " + at);
      }
    }
    if (at != to) {
      throw new IllegalArgumentException("a field runs past its message's end at byte " + to);
    }
    return external ? (location != null ? location : "(no location)") : null;
  }

  /** Reads a length and returns where the field it prefixes ends, within {@code to}. */
  private int length(int to) {
    long length = varint(to);
    if (length > to - at) {
      throw new IllegalArgumentException("a field of " + length + " bytes at byte " + at
          + " runs past its message's end at byte " + to);
    }
    return at + (int) length;
  }

  /** The message type of field {@code field} of a {@code kind}, or null when none is walked. */
  private static Kind child(Kind kind, int field) {
    switch (kind) {
      case MODEL:
        return field == 7 ? Kind.GRAPH : field == 25 ? Kind.FUNCTION : null;
      case GRAPH:
        return field == 1 ? Kind.NODE : field == 5 ? Kind.TENSOR
            : field == 15 ? Kind.SPARSE : null;
      case FUNCTION:
        return field == 7 ? Kind.NODE : null;
      case NODE:
        return field == 5 ? Kind.ATTRIBUTE : null;
      case ATTRIBUTE:
        return field == 5 || field == 10 ? Kind.TENSOR : field == 6 || field == 11 ? Kind.GRAPH
            : field == 22 || field == 23 ? Kind.SPARSE : null;
      case SPARSE:
        return field == 1 || field == 2 ? Kind.TENSOR : null;
      default:
        return null;
    }
  }

  /** The value of a {@code StringStringEntryProto} (to {@code to}) keyed "location", or null. */
  private String locationEntry(int to) {
    String key = null;
    String value = null;
    while (at < to) {
      long tag = varint(to);
      if ((tag & 7) != BYTES) {
        return null;
      }
      int end = length(to);
      byte[] s = new byte[end - at];
      b.get(at, s);
      at = end;
      if (tag >>> 3 == 1) {
        key = new String(s, StandardCharsets.UTF_8);
      } else if (tag >>> 3 == 2) {
        value = new String(s, StandardCharsets.UTF_8);
      }
    }
    return "location".equals(key) ? value : null;
  }

  private long varint(int to) {
    long value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= to) {
        throw new IllegalArgumentException("a varint runs past its message's end at byte " + to);
      }
      byte x = b.get(at++);
      value |= (long) (x & 0x7f) << shift;
      if (x >= 0) {
        return value;
      }
    }
    throw new IllegalArgumentException("a varint longer than 10 bytes before byte " + at);
  }
}
