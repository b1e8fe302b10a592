package dev.tornadovit.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Locale;
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
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * A tensor read from a file: its dtype, shape and raw little-endian bytes, a view of the memory-mapped file
     * (nothing is copied until the values are asked for).
     */
    public record Entry(String name, String dtype, long[] shape, MemorySegment data) {
        public long elementCount() {
            return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        }

        /** A tensor made in memory (e.g. several file tensors joined), held as F64. */
        public static Entry of(String name, long[] shape, double[] values) {
            MemorySegment data = MemorySegment.ofArray(new byte[values.length * 8]);
            for (int i = 0; i < values.length; i++) data.setAtIndex(F64, i, values[i]);
            return new Entry(name, "F64", shape, data);
        }

        /** The values as double, exact for every supported dtype. */
        public double[] values() {
            int n = (int) elementCount();
            double[] v = new double[n];
            for (int i = 0; i < n; i++) v[i] = value(i);
            return v;
        }

        public float[] toFloats() {
            int n = (int) elementCount();
            float[] f = new float[n];
            for (int i = 0; i < n; i++) f[i] = (float) value(i);
            return f;
        }

        private double value(long i) {
            return switch (dtype) {
                case "F64" -> data.getAtIndex(F64, i);
                case "F32" -> data.getAtIndex(F32, i);
                case "F16" -> Float.float16ToFloat(data.getAtIndex(I16, i));
                case "BF16" -> Float.intBitsToFloat((data.getAtIndex(I16, i) & 0xffff) << 16);
                case "I64" -> data.getAtIndex(I64, i);
                case "I32" -> data.getAtIndex(I32, i);
                case "I16" -> data.getAtIndex(I16, i);
                case "I8" -> data.get(ValueLayout.JAVA_BYTE, i);
                default -> data.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            };
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
     * Reads a file memory-mapped: the tensors' bytes stay in the file until a tensor's values are asked for, so a
     * file over 2 GB loads and only the tensors used are ever decoded. A file larger than this machine's memory is
     * refused before anything is read.
     */
    public static Contents read(Path file) {
        return read(file, physicalMemory());
    }

    /** As {@link #read(Path)}, refusing files over {@code memoryLimit} bytes. */
    public static Contents read(Path file, long memoryLimit) {
        long size;
        try {
            size = Files.size(file);
        } catch (IOException e) {
            throw new SafetensorsException(file + ": cannot read: " + IoErrors.reason(e), e);
        }
        if (size > memoryLimit) {
            throw new SafetensorsException(String.format(Locale.ROOT,
                    "%s: the file is %s (%d bytes), more than this machine's memory (%s); it cannot be loaded here",
                    file, gigabytes(size), size, gigabytes(memoryLimit)));
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            // An automatic arena: the mapping lives as long as a tensor view of it is reachable.
            return parse(channel.map(FileChannel.MapMode.READ_ONLY, 0, size, Arena.ofAuto()), file);
        } catch (IOException e) {
            throw new SafetensorsException(file + ": cannot read: " + IoErrors.reason(e), e);
        }
    }

    private static String gigabytes(long bytes) {
        return String.format(Locale.ROOT, "%.1f GB", bytes / 1e9);
    }

    /** The machine's physical memory, or no limit where the JVM cannot tell. */
    static long physicalMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            long total = os.getTotalMemorySize();
            if (total > 0) return total;
        }
        return Long.MAX_VALUE;
    }

    static Contents parse(MemorySegment bytes, Path file) {
        long fileLength = bytes.byteSize();
        if (fileLength < 8) {
            throw new SafetensorsException(file + ": truncated: " + fileLength + " bytes, but a safetensors file starts with an 8-byte header length");
        }
        long headerLength = bytes.get(I64, 0);
        if (headerLength <= 1 || headerLength > MAX_HEADER) {
            throw new SafetensorsException(file + ": wrong header: header length " + headerLength
                    + " is not between 2 and " + MAX_HEADER + " bytes (is this a safetensors file?)");
        }
        if (8 + headerLength > fileLength) {
            throw new SafetensorsException(file + ": truncated: the header needs " + headerLength + " bytes after offset 8, the file has "
                    + (fileLength - 8));
        }
        JsonNode header;
        try {
            header = JSON.readTree(new String(bytes.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(file + ": wrong header: not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (header == null || !header.isObject()) throw new SafetensorsException(file + ": wrong header: expected a JSON object");
        long dataStart = 8 + headerLength, dataLength = fileLength - dataStart;
        Map<String, Entry> tensors = new LinkedHashMap<>();
        // Where each non-empty tensor's data begins, to check at the end that they tile the data exactly.
        TreeMap<Long, String> starts = new TreeMap<>();
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
                        + " but the file has " + fileLength + " bytes");
            }
            if (count > Integer.MAX_VALUE - 8) throw new SafetensorsException(where + ": too large (" + count + " elements)");
            MemorySegment data = bytes.asSlice(dataStart + begin, end - begin);
            tensors.put(name, new Entry(name, dtype, shape, data));
            if (count > 0) {
                String overlapping = starts.put(begin, name);
                if (overlapping != null) {
                    throw new SafetensorsException(where + ": its data_offsets begin where tensor '" + overlapping
                            + "''s do; tensors may not share bytes");
                }
            }
        }
        // The tensors' bytes must follow each other without gaps or overlaps up to the end of the file, as the format's
        // reference reader requires: anything else would let two tensors read the same bytes.
        long expected = 0;
        for (Map.Entry<Long, String> start : starts.entrySet()) {
            if (start.getKey() != expected) {
                throw new SafetensorsException(file + ": tensor '" + start.getValue() + "': data_offsets begin at "
                        + start.getKey() + ", expected " + expected + " (the tensors' data must follow each other "
                        + "without gaps or overlaps)");
            }
            expected = start.getKey() + tensors.get(start.getValue()).data().byteSize();
        }
        if (expected != dataLength) {
            throw new SafetensorsException(file + ": " + (dataLength - expected) + " bytes after the last tensor's data "
                    + "(the header describes " + expected + " bytes of data, the file holds " + dataLength + ")");
        }
        requireDecodable(file, fileLength, tensors.values());
        return new Contents(tensors, metadata);
    }

    /**
     * Refuses a file whose tensors cannot be decoded into the Java heap: loading a checkpoint fills float32 parameters
     * with the values of its floating-point tensors, through a float64 copy of one tensor at a time.
     */
    static void requireDecodable(Path file, long size, Iterable<Entry> tensors) {
        long values = 0, largest = 0;
        for (Entry e : tensors) {
            if (!e.dtype().startsWith("F") && !e.dtype().equals("BF16")) continue;
            values += e.elementCount();
            largest = Math.max(largest, e.elementCount());
        }
        long needed = 4 * values + 8 * largest, limit = Runtime.getRuntime().maxMemory();
        if (needed > limit) {
            throw new SafetensorsException(String.format(Locale.ROOT, "%s: %s; reading it needs about %s of memory, "
                            + "more than the Java heap's limit of %s; raise the limit with -Xmx (through the tornadovit "
                            + "script: TORNADOVIT_JAVA_OPTS=-Xmx%dg)", file, binarySize(size), binarySize(needed),
                    binarySize(limit), (long) Math.ceil(needed * 1.25 / GIB)));
        }
    }

    private static final double GIB = 1L << 30;

    private static String binarySize(long bytes) {
        return bytes >= GIB ? String.format(Locale.ROOT, "%.1f GiB", bytes / GIB)
                : String.format(Locale.ROOT, "%.0f MiB", bytes / (double) (1 << 20));
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
