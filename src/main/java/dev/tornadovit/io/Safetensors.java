package dev.tornadovit.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

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

    public static Contents read(Path file) {
        byte[] bytes;
        try {
            requireReadable(file, Files.size(file));
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new SafetensorsException(file + ": cannot read: " + IoErrors.reason(e), e);
        }
        return parse(bytes, file);
    }

    /**
     * Refuses a file that cannot be read into memory: one array holds at most 2 GiB, and its tensors as float64 take
     * about twice a float32 file's size on top of the file's bytes.
     */
    static void requireReadable(Path file, long size) {
        if (size > Integer.MAX_VALUE - 8) {
            throw new SafetensorsException(String.format(java.util.Locale.ROOT, "%s: %,d bytes; this reader reads files "
                    + "of up to 2 GiB", file, size));
        }
        long needed = 3 * size, limit = Runtime.getRuntime().maxMemory();
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

    static Contents parse(byte[] bytes, Path file) {
        if (bytes.length < 8) {
            throw new SafetensorsException(file + ": truncated: " + bytes.length + " bytes, but a safetensors file starts with an 8-byte header length");
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = buf.getLong(0);
        if (headerLength <= 1 || headerLength > MAX_HEADER) {
            throw new SafetensorsException(file + ": wrong header: header length " + headerLength
                    + " is not between 2 and " + MAX_HEADER + " bytes (is this a safetensors file?)");
        }
        if (8 + headerLength > bytes.length) {
            throw new SafetensorsException(file + ": truncated: the header needs " + headerLength + " bytes after offset 8, the file has "
                    + (bytes.length - 8));
        }
        JsonNode header;
        try {
            header = JSON.readTree(new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(file + ": wrong header: not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (header == null || !header.isObject()) throw new SafetensorsException(file + ": wrong header: expected a JSON object");
        long dataStart = 8 + headerLength, dataLength = bytes.length - dataStart;
        Map<String, Entry> tensors = new LinkedHashMap<>();
        // data_offsets of every tensor, checked at the end to tile the data exactly as the format requires.
        java.util.TreeMap<Long, String> spans = new java.util.TreeMap<>();
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
                        + " but the file has " + bytes.length + " bytes");
            }
            if (count > Integer.MAX_VALUE - 8) throw new SafetensorsException(where + ": too large (" + count + " elements)");
            if (count > 0) {
                String overlapping = spans.put(begin, name);
                if (overlapping != null) {
                    throw new SafetensorsException(where + ": its data_offsets begin where tensor '" + overlapping
                            + "''s do; tensors may not share bytes");
                }
                ends.put(name, end);
            }
            double[] values = new double[(int) count];
            int base = (int) (dataStart + begin);
            for (int i = 0; i < values.length; i++) {
                int at = base + i * width;
                values[i] = switch (dtype) {
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
            tensors.put(name, new Entry(name, dtype, shape, values));
        }
        // The tensors' bytes must follow each other without gaps or overlaps up to the end of the file.
        long expected = 0;
        for (Map.Entry<Long, String> span : spans.entrySet()) {
            if (span.getKey() != expected) {
                throw new SafetensorsException(file + ": tensor '" + span.getValue() + "': data_offsets begin at "
                        + span.getKey() + ", expected " + expected + " (the tensors' data must follow each other "
                        + "without gaps or overlaps)");
            }
            expected = ends.get(span.getValue());
        }
        if (expected != dataLength) {
            throw new SafetensorsException(file + ": " + (dataLength - expected) + " bytes after the last tensor's data "
                    + "(the header describes " + expected + " bytes of data, the file holds " + dataLength + ")");
        }
        return new Contents(tensors, metadata);
    }

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
