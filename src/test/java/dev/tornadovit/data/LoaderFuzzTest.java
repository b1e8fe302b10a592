package dev.tornadovit.data;

import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

import static dev.tornadovit.data.TestFiles.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every loader over seeded random corruptions of a valid file: truncation, bit flips, header fields set to huge or
 * negative values, a wrong magic number. Each load gives a correct result (checked against the corrupted bytes) or
 * our own exception with one line naming the file; never another exception type, a hang, or a wrong number.
 */
class LoaderFuzzTest {
    private static final int ROUNDS = 150;

    /** Truncates, flips bits, or overwrites 4 or 8 bytes (a header field, often) with an extreme value. */
    static byte[] corrupt(byte[] valid, Random random, int headerBytes) {
        byte[] b = valid.clone();
        switch (random.nextInt(5)) {
            case 0 -> b = Arrays.copyOf(b, random.nextInt(b.length));
            case 1 -> {
                for (int i = 1 + random.nextInt(8); i > 0; i--) b[random.nextInt(b.length)] ^= (byte) (1 << random.nextInt(8));
            }
            case 2, 3 -> {
                int at = random.nextInt(Math.max(1, Math.min(b.length, headerBytes) - 3));
                long[] extremes = {-1, Integer.MIN_VALUE, Integer.MAX_VALUE, 0, 1L << 40, Long.MAX_VALUE, 255};
                long v = extremes[random.nextInt(extremes.length)];
                ByteBuffer buf = ByteBuffer.wrap(b).order(random.nextBoolean() ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
                if (at + 8 <= b.length && random.nextBoolean()) buf.putLong(at, v);
                else buf.putInt(at, (int) v);
            }
            default -> b[random.nextInt(Math.min(4, b.length))] ^= (byte) 0x5A; // the magic
        }
        return b;
    }

    /** Runs a load with a time limit: a result, or our exception with one line that names {@code file}. */
    static <T> T loadOrExplain(Path file, Class<? extends RuntimeException> ours, Supplier<T> load) {
        return assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
            try {
                return load.get();
            } catch (RuntimeException e) {
                assertTrue(ours.isInstance(e), "unexpected " + e.getClass().getName() + ": " + e.getMessage());
                assertTrue(e.getMessage().contains(file.getFileName().toString()), e.getMessage());
                assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
                return null;
            }
        });
    }

    @Test
    void idxFiles(@TempDir Path dir) throws IOException {
        int count = 6, rows = 5, columns = 4;
        byte[] pixels = TestFiles.randomBytes(count * rows * columns, 1);
        byte[] images = TestFiles.idxImages(count, rows, columns, pixels);
        byte[] labels = TestFiles.idxLabels(new int[]{0, 1, 2, 3, 4, 5});
        Random random = new Random(11);
        int loaded = 0;
        for (int round = 0; round < ROUNDS; round++) {
            boolean corruptImages = random.nextBoolean(), gzip = random.nextInt(4) == 0;
            byte[] img = corruptImages ? corrupt(images, random, 16) : images;
            byte[] lab = corruptImages ? labels : corrupt(labels, random, 8);
            Path imageFile = write(dir.resolve("img" + round), gzip ? TestFiles.gzip(img) : img);
            Path labelFile = write(dir.resolve("lab" + round), gzip ? TestFiles.gzip(lab) : lab);
            Path named = corruptImages ? imageFile : labelFile;
            ImageDataset d = loadOrExplain(named, DataFormatException.class, () -> IdxDataset.load(imageFile, labelFile));
            if (d == null) continue;
            loaded++;
            // A load that succeeds reads exactly what the (corrupted) bytes say.
            ByteBuffer h = ByteBuffer.wrap(img);
            assertEquals(h.getInt(4), d.size());
            assertEquals(h.getInt(8), d.height());
            assertEquals(h.getInt(12), d.width());
            byte[] got = new byte[d.imageSize()];
            for (int i = 0; i < d.size(); i++) {
                d.copyImageBytes(i, got, 0);
                assertArrayEquals(Arrays.copyOfRange(img, 16 + i * got.length, 16 + (i + 1) * got.length), got);
                assertEquals(lab[8 + i] & 0xFF, d.label(i));
            }
        }
        assertTrue(loaded > 0 && loaded < ROUNDS, "some corruptions are harmless, most not: " + loaded);
    }

    @Test
    void cifarBatches(@TempDir Path dir) {
        int records = 4;
        int[] labels = {0, 3, 9, 7};
        byte[] pixels = TestFiles.randomBytes(records * CifarDataset.PIXEL_BYTES, 2);
        byte[] valid = TestFiles.cifarRecords(null, labels, pixels);
        Random random = new Random(12);
        for (int round = 0; round < ROUNDS; round++) {
            byte[] b = corrupt(valid, random, valid.length);
            Path file = write(dir.resolve("batch" + round + ".bin"), b);
            ImageDataset d = loadOrExplain(file, DataFormatException.class,
                    () -> CifarDataset.load(List.of(file), CifarDataset.Kind.CIFAR10));
            if (d == null) continue;
            int recordBytes = CifarDataset.Kind.CIFAR10.recordBytes();
            assertEquals(b.length / recordBytes, d.size());
            byte[] got = new byte[CifarDataset.PIXEL_BYTES];
            for (int i = 0; i < d.size(); i++) {
                assertEquals(b[i * recordBytes] & 0xFF, d.label(i));
                d.copyImageBytes(i, got, 0);
                assertArrayEquals(Arrays.copyOfRange(b, i * recordBytes + 1, (i + 1) * recordBytes), got);
            }
        }
    }

    @Test
    void safetensorsHeadersAndOffsets(@TempDir Path dir) throws IOException {
        Path validFile = dir.resolve("valid.safetensors");
        double[] a = {1, 2, 3, 4, 5, 6}, b = {-1.5, 0.25};
        Safetensors.write(validFile, List.of(new Safetensors.Output("a", "F32", new long[]{2, 3}, a),
                new Safetensors.Output("b", "F64", new long[]{2}, b)), Map.of("config", "{}"));
        byte[] valid = Files.readAllBytes(validFile);
        int headerEnd = 8 + (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        String header = new String(valid, 8, headerEnd - 8, StandardCharsets.UTF_8);
        Random random = new Random(13);
        List<byte[]> cases = new ArrayList<>();
        for (int round = 0; round < ROUNDS; round++) cases.add(corrupt(valid, random, headerEnd));
        // Header fields set to values a careless reader trusts: huge, negative, fractional, overlapping offsets.
        String[][] edits = {{"[0,24]", "[0,9223372036854775807]"}, {"[0,24]", "[-24,0]"}, {"[2,3]", "[-2,-3]"},
                {"[2,3]", "[4611686018427387904,4]"}, {"[2,3]", "[2.5,2.4]"}, {"[24,40]", "[0,16]"},
                {"[2,3]", "[3,2]"}, {"\"F32\"", "\"Q8\""}, {"[24,40]", "[24,40,48]"}, {"\"shape\"", "\"shapes\""}};
        for (String[] e : edits) {
            assertTrue(header.contains(e[0]), header);
            cases.add(withHeader(valid, headerEnd, header.replace(e[0], e[1])));
        }
        for (int i = 0; i < cases.size(); i++) {
            byte[] bytes = cases.get(i);
            Path file = write(dir.resolve("c" + i + ".safetensors"), bytes);
            Safetensors.Contents c = loadOrExplain(file, SafetensorsException.class, () -> Safetensors.read(file));
            if (c == null) continue;
            // Read back: the same tensors, shapes and (bit flips in the data aside) values.
            assertEquals(List.of("a", "b"), List.copyOf(c.tensors().keySet()));
            // (The header may say [3,2] instead of [2,3]: still six values, read as the header says.)
            assertEquals(6, c.tensors().get("a").elementCount());
            assertEquals(6, c.tensors().get("a").values().length);
            assertEquals(2, c.tensors().get("b").values().length);
            // Where the data bytes are the valid file's (only the header was changed), the values must be the originals.
            long dataStart = 8 + ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            if (dataStart <= bytes.length && Arrays.equals(Arrays.copyOfRange(bytes, (int) dataStart, bytes.length),
                    Arrays.copyOfRange(valid, headerEnd, valid.length))) {
                assertArrayEquals(a, c.tensors().get("a").values());
                assertArrayEquals(b, c.tensors().get("b").values());
            }
        }
    }

    private static byte[] withHeader(byte[] valid, int headerEnd, String header) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + valid.length - headerEnd).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h).put(valid, headerEnd, valid.length - headerEnd);
        return out.array();
    }

    @Test
    void pngAndJpegImagesInImageFolders(@TempDir Path dir) throws IOException {
        Random random = new Random(14);
        BufferedImage image = new BufferedImage(12, 10, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 10; y++) for (int x = 0; x < 12; x++) image.setRGB(x, y, random.nextInt(1 << 24));
        for (String format : new String[]{"png", "jpg"}) {
            ByteArrayOutputStream encoded = new ByteArrayOutputStream();
            ImageIO.write(image, format, encoded);
            byte[] valid = encoded.toByteArray();
            for (int round = 0; round < ROUNDS / 3; round++) {
                Path root = dir.resolve(format + round);
                Path file = write(root.resolve("cat").resolve("x." + format), corrupt(valid, random, 40));
                ImageDataset d = loadOrExplain(file, DataFormatException.class, () -> ImageFolderDataset.load(root, 8, 8, 3));
                if (d != null) assertEquals(1, d.size());
            }
        }
        // A PNG header (IHDR: width, height at bytes 16..23) claiming 100000×100000 pixels is refused before decoding.
        ByteArrayOutputStream encoded = new ByteArrayOutputStream();
        ImageIO.write(image, "png", encoded);
        byte[] huge = encoded.toByteArray();
        ByteBuffer.wrap(huge).putInt(16, 100_000).putInt(20, 100_000);
        Path root = dir.resolve("huge");
        Path file = write(root.resolve("cat").resolve("x.png"), huge);
        DataFormatException e = org.junit.jupiter.api.Assertions.assertThrows(DataFormatException.class,
                () -> ImageFolderDataset.load(root, 8, 8, 3));
        assertTrue(e.getMessage().startsWith(file + ": the image header says 100000×100000 pixels; expected at most "
                + "67,108,864 pixels"), e.getMessage());
    }

    /** Corrupt data given to train --resume and corrupt checkpoints given to eval leave an existing run folder as it was. */
    @Test
    void corruptInputNeverTouchesAnExistingRunFolder(@TempDir Path dir) throws IOException {
        Path run = Files.createDirectories(dir.resolve("run"));
        Safetensors.write(run.resolve("last.safetensors"), List.of(new Safetensors.Output("a", "F32", new long[]{2},
                new double[]{1, 2})), Map.of("config", "{}"));
        write(run.resolve("metrics.csv"), "epoch\n");
        Map<Path, byte[]> before = new java.util.TreeMap<>();
        Map<Path, java.nio.file.attribute.FileTime> times = new java.util.TreeMap<>();
        try (var files = Files.list(run)) {
            for (Path f : files.toList()) {
                before.put(f, Files.readAllBytes(f));
                times.put(f, Files.getLastModifiedTime(f));
            }
        }
        byte[] images = TestFiles.idxImages(2, 28, 28, TestFiles.randomBytes(2 * 28 * 28, 3));
        byte[] labels = TestFiles.idxLabels(new int[]{0, 1});
        byte[] checkpoint = before.get(run.resolve("last.safetensors"));
        Random random = new Random(15);
        for (int round = 0; round < 3; round++) {
            Path data = Files.createDirectories(dir.resolve("data" + round));
            write(data.resolve("train-images-idx3-ubyte"), corrupt(images, random, 16));
            write(data.resolve("train-labels-idx1-ubyte"), labels);
            write(data.resolve("t10k-images-idx3-ubyte"), images);
            write(data.resolve("t10k-labels-idx1-ubyte"), corrupt(labels, random, 8));
            int code = dev.tornadovit.cli.Main.execute("train", "--data", data.toString(), "--run-dir", run.toString(),
                    "--resume", "--epochs", "1", "--batch-size", "2");
            assertTrue(code != 0, "corrupt data refused");
            Path bad = write(dir.resolve("bad" + round + ".safetensors"), corrupt(checkpoint, random, 64));
            assertTrue(dev.tornadovit.cli.Main.execute("eval", bad.toString(), "--data", data.toString()) != 0);
        }
        try (var files = Files.list(run)) {
            assertEquals(before.keySet(), new java.util.TreeSet<>(files.toList()), "no file added or removed");
        }
        for (var e : before.entrySet()) {
            assertArrayEquals(e.getValue(), Files.readAllBytes(e.getKey()), e.getKey().toString());
            assertEquals(times.get(e.getKey()), Files.getLastModifiedTime(e.getKey()), e.getKey().toString());
        }
    }
}
