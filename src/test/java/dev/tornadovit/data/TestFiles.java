package dev.tornadovit.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.zip.GZIPOutputStream;

/** Builds small data files in the tests' temporary folders. */
final class TestFiles {

    private TestFiles() {
    }

    static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] idxImages(int count, int rows, int columns, byte[] pixels) {
        ByteBuffer b = ByteBuffer.allocate(16 + pixels.length); // big-endian by default
        b.putInt(IdxDataset.IMAGES_MAGIC).putInt(count).putInt(rows).putInt(columns).put(pixels);
        return b.array();
    }

    static byte[] idxLabels(int[] labels) {
        ByteBuffer b = ByteBuffer.allocate(8 + labels.length);
        b.putInt(IdxDataset.LABELS_MAGIC).putInt(labels.length);
        for (int label : labels) {
            b.put((byte) label);
        }
        return b.array();
    }

    static byte[] gzip(byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    static Path write(Path file, byte[] content) {
        try {
            Files.createDirectories(file.getParent());
            return Files.write(file, content);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path write(Path file, String content) {
        return write(file, content.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    static int[] labels(int count, int numClasses, long seed) {
        Random random = new Random(seed);
        return IntStream.range(0, count).map(i -> random.nextInt(numClasses)).toArray();
    }

    /** CIFAR records: label byte(s) then 3072 pixel bytes; {@code coarse} null for CIFAR-10. */
    static byte[] cifarRecords(int[] coarse, int[] fine, byte[] pixels) {
        int labelBytes = coarse == null ? 1 : 2;
        ByteBuffer b = ByteBuffer.allocate(fine.length * (labelBytes + 3072));
        for (int i = 0; i < fine.length; i++) {
            if (coarse != null) {
                b.put((byte) coarse[i]);
            }
            b.put((byte) fine[i]);
            b.put(pixels, i * 3072, 3072);
        }
        return b.array();
    }

    /** A dataset of random bytes with the given shape, for preprocessing and batching tests. */
    static ImageDataset randomDataset(int count, int channels, int height, int width, int numClasses, long seed) {
        byte[] pixels = randomBytes(count * channels * height * width, seed);
        List<String> names = IntStream.range(0, numClasses).mapToObj(i -> "class" + i).toList();
        return new ImageDataset(channels, height, width, names, pixels, labels(count, numClasses, seed + 1));
    }
}
