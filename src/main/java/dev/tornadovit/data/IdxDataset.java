package dev.tornadovit.data;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Loader for the IDX format of MNIST and Fashion-MNIST: an image file (magic 0x00000803: unsigned bytes, 3
 * dimensions count×rows×columns) and a label file (magic 0x00000801: unsigned bytes, 1 dimension), with
 * big-endian headers. Either file may be gzipped.
 */
public final class IdxDataset {

    public static final int IMAGES_MAGIC = 0x00000803;
    public static final int LABELS_MAGIC = 0x00000801;

    /** Class names used when none are given: "0".."9", as for MNIST digits. */
    public static final List<String> DIGIT_CLASS_NAMES =
            IntStream.range(0, 10).mapToObj(Integer::toString).toList();

    private IdxDataset() {
    }

    /** Loads with class names "0".."9". */
    public static ImageDataset load(Path images, Path labels) {
        return load(images, labels, DIGIT_CLASS_NAMES);
    }

    /** Loads a grey-scale image set; every label must be an index into {@code classNames}. */
    public static ImageDataset load(Path images, Path labels, List<String> classNames) {
        if (classNames.isEmpty() || classNames.size() > 256) {
            throw new IllegalArgumentException("IDX labels are bytes: 1..256 class names needed, got "
                    + classNames.size());
        }
        ImageBlock block = readImages(images);
        int[] labelValues = readLabels(labels, classNames.size());
        if (labelValues.length != block.count) {
            throw new DataFormatException(String.format(
                    "%s: holds %d labels, but image file %s holds %d images; the counts must match",
                    labels, labelValues.length, images, block.count));
        }
        return new ImageDataset(1, block.rows, block.columns, classNames, block.pixels, labelValues);
    }

    private record ImageBlock(int count, int rows, int columns, byte[] pixels) {
    }

    private static ImageBlock readImages(Path file) {
        try (DataFileReader in = DataFileReader.open(file)) {
            checkMagic(in, IMAGES_MAGIC, "IDX images, unsigned bytes, 3 dimensions");
            int count = readDimension(in, "image count");
            int rows = readDimension(in, "row count");
            int columns = readDimension(in, "column count");
            if (rows == 0 || columns == 0) {
                throw new DataFormatException(String.format(
                        "%s: image size in the header (byte offsets 8..15) is %d×%d; expected both to be positive",
                        file, rows, columns));
            }
            long total = (long) count * rows * columns;
            if (total > Integer.MAX_VALUE - 8) {
                throw new DataFormatException(String.format(
                        "%s: header describes %d images of %d×%d = %d bytes, more than this loader supports (%d)",
                        file, count, rows, columns, total, Integer.MAX_VALUE - 8));
            }
            String described = count + " images of " + rows + "×" + columns;
            byte[] pixels = in.readExactly((int) total, "pixel data (" + described + ")");
            in.expectEnd("16-byte header + " + described);
            return new ImageBlock(count, rows, columns, pixels);
        }
    }

    private static int[] readLabels(Path file, int numClasses) {
        try (DataFileReader in = DataFileReader.open(file)) {
            checkMagic(in, LABELS_MAGIC, "IDX labels, unsigned bytes, 1 dimension");
            int count = readDimension(in, "label count");
            long headerSize = in.offset();
            byte[] raw = in.readExactly(count, "labels (" + count + " one-byte labels)");
            in.expectEnd("8-byte header + " + count + " labels");
            int[] labels = new int[count];
            for (int i = 0; i < count; i++) {
                int label = raw[i] & 0xFF;
                if (label >= numClasses) {
                    throw new DataFormatException(String.format(
                            "%s: label of record %d (byte offset %d) is %d, outside the allowed range 0..%d%s",
                            file, i, headerSize + i, label, numClasses - 1, in.offsetNote()));
                }
                labels[i] = label;
            }
            return labels;
        }
    }

    private static void checkMagic(DataFileReader in, int expected, String meaning) {
        int found = in.readBigEndianInt("magic number");
        if (found != expected) {
            String hint = switch (found) {
                case IMAGES_MAGIC -> " (that is an IDX image file: were the image and label files swapped?)";
                case LABELS_MAGIC -> " (that is an IDX label file: were the image and label files swapped?)";
                default -> Integer.reverseBytes(found) == expected ? " (byte-swapped: little-endian header?)" : "";
            };
            throw new DataFormatException(String.format(
                    "%s: wrong magic number at byte offset 0: expected 0x%08X (%s), found 0x%08X%s",
                    in.file(), expected, meaning, found, hint));
        }
    }

    private static int readDimension(DataFileReader in, String field) {
        long at = in.offset();
        int value = in.readBigEndianInt(field);
        if (value < 0) {
            throw new DataFormatException(String.format(
                    "%s: %s at byte offset %d is %d (0x%08X); expected a non-negative number",
                    in.file(), field, at, value, value));
        }
        return value;
    }
}
