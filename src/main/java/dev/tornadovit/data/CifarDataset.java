package dev.tornadovit.data;

import dev.tornadovit.io.IoErrors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Loader for the binary versions of CIFAR-10 and CIFAR-100: fixed-size records of label byte(s) followed by a
 * 32×32 RGB image stored as 1024 red, 1024 green, 1024 blue bytes, which is already our CHW layout.
 */
public final class CifarDataset {

    public static final int IMAGE_SIZE = 32;
    public static final int CHANNELS = 3;
    static final int PIXEL_BYTES = CHANNELS * IMAGE_SIZE * IMAGE_SIZE;

    /** Which format the batch files are in, and for CIFAR-100 which of its two labels to use. */
    public enum Kind {
        /** Record: label (0..9), 3072 pixel bytes. */
        CIFAR10("CIFAR-10", 1, 0, 10),
        /** Record: coarse label (0..19), fine label (0..99), 3072 pixel bytes; uses the fine label. */
        CIFAR100("CIFAR-100", 2, 1, 100),
        /** As {@link #CIFAR100} but uses the coarse (super-class) label. */
        CIFAR100_COARSE("CIFAR-100", 2, 0, 20);

        final String format;
        final int labelBytes;
        final int labelIndex;
        final int numClasses;

        Kind(String format, int labelBytes, int labelIndex, int numClasses) {
            this.format = format;
            this.labelBytes = labelBytes;
            this.labelIndex = labelIndex;
            this.numClasses = numClasses;
        }

        public int recordBytes() {
            return labelBytes + PIXEL_BYTES;
        }

        public int numClasses() {
            return numClasses;
        }
    }

    private CifarDataset() {
    }

    /** Loads and concatenates batch files, with class names "0".."N-1". */
    public static ImageDataset load(List<Path> batchFiles, Kind kind) {
        return load(batchFiles, kind, IntStream.range(0, kind.numClasses).mapToObj(Integer::toString).toList());
    }

    public static ImageDataset load(List<Path> batchFiles, Kind kind, List<String> classNames) {
        if (batchFiles.isEmpty()) {
            throw new IllegalArgumentException("no CIFAR batch files given");
        }
        if (classNames.size() != kind.numClasses) {
            throw new IllegalArgumentException(kind + " has " + kind.numClasses + " classes, but "
                    + classNames.size() + " class names were given");
        }
        // Every file is validated before the combined array is allocated, so a bad last file fails fast.
        List<byte[]> contents = new ArrayList<>();
        long totalRecords = 0;
        for (Path file : batchFiles) {
            DataFileReader.Content read = DataFileReader.readAll(file);
            byte[] content = read.bytes();
            checkRecords(file, content, kind, read.offsetNote());
            contents.add(content);
            totalRecords += content.length / kind.recordBytes();
        }
        if (totalRecords * PIXEL_BYTES > Integer.MAX_VALUE - 8) {
            throw new DataFormatException(batchFiles + ": " + totalRecords + " images are more than fit in one array");
        }
        byte[] pixels = new byte[(int) (totalRecords * PIXEL_BYTES)];
        int[] labels = new int[(int) totalRecords];
        int image = 0;
        for (byte[] content : contents) {
            for (int record = 0; record < content.length / kind.recordBytes(); record++, image++) {
                int start = record * kind.recordBytes();
                labels[image] = content[start + kind.labelIndex] & 0xFF;
                System.arraycopy(content, start + kind.labelBytes, pixels, image * PIXEL_BYTES, PIXEL_BYTES);
            }
        }
        return new ImageDataset(CHANNELS, IMAGE_SIZE, IMAGE_SIZE, classNames, pixels, labels);
    }

    private static void checkRecords(Path file, byte[] content, Kind kind, String offsetNote) {
        int recordBytes = kind.recordBytes();
        if (content.length == 0) {
            throw new DataFormatException(String.format(
                    "%s: file is empty; expected %s records of %d bytes", file, kind.format, recordBytes));
        }
        if (content.length % recordBytes != 0) {
            int completeRecords = content.length / recordBytes;
            int otherRecordBytes = kind == Kind.CIFAR10 ? Kind.CIFAR100.recordBytes() : Kind.CIFAR10.recordBytes();
            String hint = content.length % otherRecordBytes == 0
                    ? String.format("; the size fits %d-byte records: is this %s?", otherRecordBytes,
                            kind == Kind.CIFAR10 ? "CIFAR-100" : "CIFAR-10")
                    : "";
            throw new DataFormatException(String.format(
                    "%s: truncated: expected %d bytes for %s record %d at byte offset %d, found %d%s%s",
                    file, recordBytes, kind.format, completeRecords, (long) completeRecords * recordBytes,
                    content.length % recordBytes, offsetNote, hint));
        }
        // CIFAR-100 records carry both labels: check both so a wrong file is not half-accepted.
        int[] ranges = kind == Kind.CIFAR10 ? new int[] {10} : new int[] {20, 100};
        String[] names = kind == Kind.CIFAR10 ? new String[] {"label"} : new String[] {"coarse label", "fine label"};
        for (int record = 0; record < content.length / recordBytes; record++) {
            for (int field = 0; field < ranges.length; field++) {
                long offset = (long) record * recordBytes + field;
                int value = content[(int) offset] & 0xFF;
                if (value >= ranges[field]) {
                    throw new DataFormatException(String.format(
                            "%s: %s of record %d (byte offset %d) is %d, outside the allowed range 0..%d%s",
                            file, names[field], record, offset, value, ranges[field] - 1, offsetNote));
                }
            }
        }
    }

    /**
     * Loads the training or test part of an extracted binary archive. Recognises the standard layouts:
     * {@code cifar-10-batches-bin} (data_batch_1..5.bin, test_batch.bin, batches.meta.txt) and
     * {@code cifar-100-binary} (train.bin, test.bin, fine_label_names.txt). {@code dir} may also be the folder
     * that contains one of those two.
     */
    public static ImageDataset loadDirectory(Path dir, boolean train) {
        if (!Files.isDirectory(dir)) {
            throw new DataFormatException(dir + ": not a directory; expected an extracted CIFAR binary archive");
        }
        if (Files.exists(dir.resolve("batches.meta.txt")) || Files.exists(dir.resolve("test_batch.bin"))) {
            List<Path> files = train
                    ? IntStream.rangeClosed(1, 5).mapToObj(i -> dir.resolve("data_batch_" + i + ".bin")).toList()
                    : List.of(dir.resolve("test_batch.bin"));
            for (Path file : files) {
                if (!Files.isRegularFile(file)) {
                    throw new DataFormatException(file + ": missing; a CIFAR-10 directory holds data_batch_1.bin .. "
                            + "data_batch_5.bin and test_batch.bin");
                }
            }
            return load(files, Kind.CIFAR10, readClassNames(dir.resolve("batches.meta.txt"), 10));
        }
        if (Files.exists(dir.resolve("fine_label_names.txt")) || Files.exists(dir.resolve("train.bin"))) {
            Path file = dir.resolve(train ? "train.bin" : "test.bin");
            if (!Files.isRegularFile(file)) {
                throw new DataFormatException(file + ": missing; a CIFAR-100 directory holds train.bin and test.bin");
            }
            return load(List.of(file), Kind.CIFAR100, readClassNames(dir.resolve("fine_label_names.txt"), 100));
        }
        for (String standardName : List.of("cifar-10-batches-bin", "cifar-100-binary")) {
            if (Files.isDirectory(dir.resolve(standardName))) {
                return loadDirectory(dir.resolve(standardName), train);
            }
        }
        throw new DataFormatException(dir + ": not a CIFAR binary directory; expected data_batch_1..5.bin, "
                + "test_batch.bin and batches.meta.txt (CIFAR-10) or train.bin, test.bin and fine_label_names.txt "
                + "(CIFAR-100)");
    }

    /** One name per line; blank lines (the files end with some) are ignored. */
    private static List<String> readClassNames(Path file, int expected) {
        if (!Files.isRegularFile(file)) {
            throw new DataFormatException(file + ": class-name file missing; expected " + expected + " names, one a line");
        }
        List<String> names;
        try {
            names = Files.readAllLines(file, StandardCharsets.UTF_8).stream()
                    .map(String::strip).filter(s -> !s.isEmpty()).toList();
        } catch (IOException e) {
            throw new DataFormatException(file + ": cannot read class names: " + IoErrors.reason(e), e);
        }
        if (names.size() != expected) {
            throw new DataFormatException(String.format(
                    "%s: expected %d class names (one a line), found %d", file, expected, names.size()));
        }
        return names;
    }
}
