package dev.tornadovit.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads and writes the safetensors format (an 8-byte little-endian header length, a JSON header, then the raw
 * little-endian tensor bytes). Reading validates everything before returning, so a bad file loads nothing.
 * Writing goes to a temporary file that is renamed into place, so a crash never leaves a half-written file.
 */
public final class Safetensors {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION.mappedFeature());
    private static final long MAX_HEADER = 100L << 20;

    /** A tensor read from a file: its values as double (exact for every supported dtype) and its shape. */
    public record Entry(String name, String dtype, long[] shape, double[] values) {
        public long elementCount() {
            return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        }

        public float[] toFloats() {
            float[] f = new float[values.length];
            for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
            return f;
        }
    }

    /** A whole file: tensors in header order, and the metadata strings. */
    public record Contents(Map<String, Entry> tensors, Map<String, String> metadata) {
        public Entry require(String name, Path file) {
            Entry e = tensors.get(name);
            if (e == null) throw new SafetensorsException(file + ": tensor '" + name + "' is missing");
            return e;
        }
    }

    /** A tensor to write. {@code dtype} is "F32" or "F64". */
    public record Output(String name, String dtype, long[] shape, double[] values) {
        public Output {
            long n = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            if (n != values.length) {
                throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " holds " + n
                        + " values, given " + values.length);
            }
            if (!"F32".equals(dtype) && !"F64".equals(dtype)) throw new IllegalArgumentException("dtype " + dtype);
        }

        public static Output f32(String name, long[] shape, float[] values) {
            double[] d = new double[values.length];
            for (int i = 0; i < d.length; i++) d[i] = values[i];
            return new Output(name, "F32", shape, d);
        }
    }

    private Safetensors() {
    }

    /**
     * Reads and checks the header first, then each tensor's bytes in turn: the file is never held whole, so its size
     * is not bounded by one array, and memory is refused up front when the tensors (as float64) cannot fit the heap.
     */
    public static Contents read(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            Header header = readHeader(channel, file);
            requireReadable(file, channel.size(), header.values());
            Map<String, Entry> tensors = new LinkedHashMap<>();
            for (Span t : header.tensors()) tensors.put(t.name(), new Entry(t.name(), t.dtype(), t.shape(), decode(channel, t)));
            return new Contents(tensors, header.metadata());
        } catch (IOException e) {
            throw new SafetensorsException(file + ": cannot read: " + IoErrors.reason(e), e);
        }
    }

    /** One tensor as the header describes it: where its bytes are in the file, and what they mean. */
    private record Span(String name, String dtype, int width, long[] shape, long count, long position) {
    }

    private record Header(List<Span> tensors, Map<String, String> metadata) {
        long values() {
            return tensors.stream().mapToLong(Span::count).sum();
        }
    }

    /**
     * Refuses a file whose tensors cannot be held: each becomes a double[] of its elements, so a float32 file needs
     * about twice its size of heap.
     */
    static void requireReadable(Path file, long size, long values) {
        long needed = 8 * values, limit = Runtime.getRuntime().maxMemory();
        if (needed > limit) {
            throw new SafetensorsException(String.format(java.util.Locale.ROOT, "%s: %s; reading it needs about %s of "
                            + "memory, more than the Java heap's limit of %s; raise the limit with -Xmx (through the "
                            + "tornadovit script: TORNADOVIT_JAVA_OPTS=-Xmx%dg)", file, size(size), size(needed),
                    size(limit), (long) Math.ceil(needed * 1.25 / GIB)));
        }
    }

    private static String size(long bytes) {
        return bytes >= GIB ? String.format(java.util.Locale.ROOT, "%.1f GiB", bytes / GIB)
                : String.format(java.util.Locale.ROOT, "%.0f MiB", bytes / (double) (1 << 20));
    }

    private static final double GIB = 1L << 30;

    /** {@code length} bytes at {@code position}, or fails naming what was being read. */
    private static ByteBuffer readAt(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        while (buf.hasRemaining()) {
            if (channel.read(buf, position + buf.position()) < 0) throw new java.io.EOFException();
        }
        return buf.flip();
    }

    private static Header readHeader(FileChannel channel, Path file) throws IOException {
        long fileSize = channel.size();
        if (fileSize < 8) {
            throw new SafetensorsException(file + ": truncated: " + fileSize + " bytes, but a safetensors file starts with an 8-byte header length");
        }
        long headerLength = readAt(channel, 0, 8).getLong(0);
        if (headerLength <= 1 || headerLength > MAX_HEADER) {
            throw new SafetensorsException(file + ": wrong header: header length " + headerLength
                    + " is not between 2 and " + MAX_HEADER + " bytes (is this a safetensors file?)");
        }
        if (8 + headerLength > fileSize) {
            throw new SafetensorsException(file + ": truncated: the header needs " + headerLength + " bytes after offset 8, the file has "
                    + (fileSize - 8));
        }
        JsonNode header;
        try {
            header = JSON.readTree(new String(readAt(channel, 8, (int) headerLength).array(), StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(file + ": wrong header: not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (header == null || !header.isObject()) throw new SafetensorsException(file + ": wrong header: expected a JSON object");
        long dataStart = 8 + headerLength, dataLength = fileSize - dataStart;
        List<Span> tensors = new ArrayList<>();
        // data_offsets of every tensor, checked at the end to tile the data exactly as the format requires.
        TreeMap<Long, Span> spans = new TreeMap<>();
        Map<String, Long> ends = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            JsonNode info = field.getValue();
            if ("__metadata__".equals(name)) {
                if (!info.isObject()) throw new SafetensorsException(file + ": wrong header: __metadata__ is not an object");
                info.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            String where = file + ": tensor '" + name + "'";
            JsonNode dtypeNode = info.get("dtype"), shapeNode = info.get("shape"), offsets = info.get("data_offsets");
            if (dtypeNode == null || shapeNode == null || offsets == null || !shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
                throw new SafetensorsException(where + ": wrong header entry: expected dtype, shape and data_offsets [begin, end]");
            }
            String dtype = dtypeNode.asText();
            int width = switch (dtype) {
                case "F64", "I64" -> 8;
                case "F32", "I32" -> 4;
                case "F16", "BF16", "I16" -> 2;
                case "U8", "I8", "BOOL" -> 1;
                default -> throw new SafetensorsException(where + ": unsupported dtype " + dtype
                        + "; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL");
            };
            long[] shape = new long[shapeNode.size()];
            long count = 1;
            for (int i = 0; i < shape.length; i++) {
                JsonNode dim = shapeNode.get(i);
                if (!dim.isIntegralNumber() || !dim.canConvertToLong() || dim.asLong() < 0) {
                    throw new SafetensorsException(where + ": shape " + shapeNode + " holds " + dim
                            + "; expected whole numbers >= 0");
                }
                shape[i] = dim.asLong();
                // Saturates instead of wrapping: a count past Long.MAX_VALUE / 8 cannot match any offsets below.
                count = shape[i] == 0 || count <= Long.MAX_VALUE / shape[i] / 8 ? count * shape[i] : Long.MAX_VALUE / 8;
            }
            for (int i = 0; i < 2; i++) {
                if (!offsets.get(i).isIntegralNumber() || !offsets.get(i).canConvertToLong()) {
                    throw new SafetensorsException(where + ": data_offsets " + offsets + " are not two whole numbers");
                }
            }
            long begin = offsets.get(0).asLong(), end = offsets.get(1).asLong();
            if (begin < 0 || end < begin || end - begin != count * width) {
                throw new SafetensorsException(where + ": data_offsets [" + begin + ", " + end + "] span " + (end - begin)
                        + " bytes; shape " + Arrays.toString(shape) + " of " + dtype + " needs " + count * width);
            }
            if (end > dataLength) {
                throw new SafetensorsException(where + ": truncated: its data ends at byte " + (dataStart + end)
                        + " but the file has " + fileSize + " bytes");
            }
            if (count > Integer.MAX_VALUE - 8) throw new SafetensorsException(where + ": too large (" + count + " elements)");
            Span span = new Span(name, dtype, width, shape, count, dataStart + begin);
            tensors.add(span);
            if (count > 0) {
                Span overlapping = spans.put(begin, span);
                if (overlapping != null) {
                    throw new SafetensorsException(where + ": its data_offsets begin where tensor '" + overlapping.name()
                            + "''s do; tensors may not share bytes");
                }
                ends.put(name, end);
            }
        }
        // The tensors' bytes must follow each other without gaps or overlaps up to the end of the file.
        long expected = 0;
        for (Map.Entry<Long, Span> span : spans.entrySet()) {
            if (span.getKey() != expected) {
                throw new SafetensorsException(file + ": tensor '" + span.getValue().name() + "': data_offsets begin at "
                        + span.getKey() + ", expected " + expected + " (the tensors' data must follow each other "
                        + "without gaps or overlaps)");
            }
            expected = ends.get(span.getValue().name());
        }
        if (expected != dataLength) {
            throw new SafetensorsException(file + ": " + (dataLength - expected) + " bytes after the last tensor's data "
                    + "(the header describes " + expected + " bytes of data, the file holds " + dataLength + ")");
        }
        return new Header(tensors, metadata);
    }

    /** A tensor's values, read from the file in chunks of at most {@link #CHUNK} bytes. */
    private static double[] decode(FileChannel channel, Span t) throws IOException {
        double[] values = new double[(int) t.count()];
        int perChunk = CHUNK / t.width();
        for (int first = 0; first < values.length; first += perChunk) {
            int n = Math.min(perChunk, values.length - first);
            ByteBuffer buf = readAt(channel, t.position() + (long) first * t.width(), n * t.width());
            for (int i = 0; i < n; i++) {
                int at = i * t.width();
                values[first + i] = switch (t.dtype()) {
                    case "F64" -> buf.getDouble(at);
                    case "F32" -> buf.getFloat(at);
                    case "F16" -> Float.float16ToFloat(buf.getShort(at));
                    case "BF16" -> Float.intBitsToFloat((buf.getShort(at) & 0xffff) << 16);
                    case "I64" -> buf.getLong(at);
                    case "I32" -> buf.getInt(at);
                    case "I16" -> buf.getShort(at);
                    case "I8" -> buf.get(at);
                    default -> buf.get(at) & 0xff;
                };
            }
        }
        return values;
    }

    private static final int CHUNK = 1 << 20;

    /** Writes atomically: a temporary file in the same folder, then a rename over {@code file}. */
    public static void write(Path file, Iterable<Output> tensors, Map<String, String> metadata) {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Output t : tensors) {
            int width = "F64".equals(t.dtype()) ? 8 : 4;
            ObjectNode entry = header.putObject(t.name());
            entry.put("dtype", t.dtype());
            var shape = entry.putArray("shape");
            for (long s : t.shape()) shape.add(s);
            var offs = entry.putArray("data_offsets");
            offs.add(offset);
            offset += (long) t.values().length * width;
            offs.add(offset);
        }
        byte[] headerBytes;
        try {
            headerBytes = JSON.writeValueAsBytes(header);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        int padded = (headerBytes.length + 7) / 8 * 8; // the format recommends 8-byte alignment of the data
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = TempFiles.create(dir, "." + file.getFileName(), ".tmp");
            try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
                out.write(len.array());
                out.write(headerBytes);
                for (int i = headerBytes.length; i < padded; i++) out.write(' ');
                ByteBuffer chunk = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
                for (Output t : tensors) {
                    boolean f64 = "F64".equals(t.dtype());
                    for (double v : t.values()) {
                        if (chunk.remaining() < 8) {
                            out.write(chunk.array(), 0, chunk.position());
                            chunk.clear();
                        }
                        if (f64) chunk.putDouble(v);
                        else chunk.putFloat((float) v);
                    }
                }
                out.write(chunk.array(), 0, chunk.position());
            }
            try (var channel = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
                channel.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new SafetensorsException(file + ": cannot write: " + IoErrors.reason(e), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: a leftover hidden .tmp file is harmless
                }
            }
        }
    }
}
