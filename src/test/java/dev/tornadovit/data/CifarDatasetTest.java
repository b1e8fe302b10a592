package dev.tornadovit.data;

import static dev.tornadovit.data.TestFiles.*;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CifarDatasetTest {

    @TempDir
    Path dir;

    private static void assertImages(ImageDataset ds, int first, byte[] pixels, int[] labels) {
        byte[] image = new byte[3072];
        for (int i = 0; i < labels.length; i++) {
            assertEquals(labels[i], ds.label(first + i));
            ds.copyImageBytes(first + i, image, 0);
            assertArrayEquals(Arrays.copyOfRange(pixels, i * 3072, (i + 1) * 3072), image);
        }
    }

    @Test
    void loadsCifar10BatchesInOrder() {
        byte[] pixelsA = randomBytes(3 * 3072, 1);
        byte[] pixelsB = randomBytes(2 * 3072, 2);
        int[] labelsA = {0, 9, 4};
        int[] labelsB = {7, 1};
        Path a = write(dir.resolve("a.bin"), cifarRecords(null, labelsA, pixelsA));
        Path b = write(dir.resolve("b.bin"), gzip(cifarRecords(null, labelsB, pixelsB)));
        ImageDataset ds = CifarDataset.load(List.of(a, b), CifarDataset.Kind.CIFAR10);
        assertEquals(5, ds.size());
        assertEquals(3, ds.channels());
        assertEquals(32, ds.height());
        assertEquals(32, ds.width());
        assertEquals(10, ds.numClasses());
        assertImages(ds, 0, pixelsA, labelsA);
        assertImages(ds, 3, pixelsB, labelsB);
        // CHW as stored: the green plane starts 1024 bytes into the image.
        assertEquals(pixelsA[1024] & 0xFF, ds.pixel(0, 1, 0, 0));
    }

    @Test
    void loadsCifar100FineOrCoarseLabels() {
        byte[] pixels = randomBytes(3 * 3072, 3);
        int[] coarse = {19, 0, 5};
        int[] fine = {99, 3, 50};
        Path file = write(dir.resolve("train.bin"), cifarRecords(coarse, fine, pixels));
        ImageDataset fineSet = CifarDataset.load(List.of(file), CifarDataset.Kind.CIFAR100);
        assertEquals(100, fineSet.numClasses());
        assertImages(fineSet, 0, pixels, fine);
        ImageDataset coarseSet = CifarDataset.load(List.of(file), CifarDataset.Kind.CIFAR100_COARSE);
        assertEquals(20, coarseSet.numClasses());
        assertImages(coarseSet, 0, pixels, coarse);
    }

    @Test
    void loadDirectoryRecognisesCifar10Layout() {
        Path cifar = dir.resolve("cifar-10-batches-bin");
        for (int i = 1; i <= 5; i++) {
            write(cifar.resolve("data_batch_" + i + ".bin"),
                    cifarRecords(null, new int[] {i, i + 1}, randomBytes(2 * 3072, i)));
        }
        byte[] testPixels = randomBytes(3072, 9);
        write(cifar.resolve("test_batch.bin"), cifarRecords(null, new int[] {8}, testPixels));
        write(cifar.resolve("batches.meta.txt"),
                "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
        ImageDataset train = CifarDataset.loadDirectory(dir, true); // parent folder is accepted too
        assertEquals(10, train.size());
        assertEquals(List.of(1, 2, 2, 3, 3, 4, 4, 5, 5, 6),
                IntStream.range(0, 10).map(train::label).boxed().toList());
        ImageDataset test = CifarDataset.loadDirectory(cifar, false);
        assertEquals(1, test.size());
        assertEquals("ship", test.classNames().get(test.label(0)));
        assertImages(test, 0, testPixels, new int[] {8});
    }

    @Test
    void loadDirectoryRecognisesCifar100Layout() {
        Path cifar = dir.resolve("cifar-100-binary");
        write(cifar.resolve("train.bin"), cifarRecords(new int[] {1, 2}, new int[] {10, 20}, randomBytes(6144, 1)));
        write(cifar.resolve("test.bin"), cifarRecords(new int[] {3}, new int[] {42}, randomBytes(3072, 2)));
        write(cifar.resolve("fine_label_names.txt"),
                IntStream.range(0, 100).mapToObj(i -> "fine" + i).collect(Collectors.joining("\n")));
        ImageDataset test = CifarDataset.loadDirectory(cifar, false);
        assertEquals("fine42", test.classNames().get(test.label(0)));
        assertEquals(2, CifarDataset.loadDirectory(cifar, true).size());
    }

    @Test
    void truncatedRecordIsReportedWithOffsetAndKindHint() {
        byte[] records = cifarRecords(null, new int[] {1, 2}, randomBytes(6144, 1));
        Path file = write(dir.resolve("data_batch_1.bin"), Arrays.copyOf(records, records.length - 100));
        var e = assertThrows(DataFormatException.class,
                () -> CifarDataset.load(List.of(file), CifarDataset.Kind.CIFAR10));
        String m = e.getMessage();
        assertTrue(m.contains(file.toString()) && m.contains("truncated"), m);
        assertTrue(m.contains("expected 3073 bytes for CIFAR-10 record 1 at byte offset 3073, found 2973"), m);

        // CIFAR-10 data read as CIFAR-100: sizes don't divide, and the message suggests the other format.
        Path whole = write(dir.resolve("whole.bin"), records);
        e = assertThrows(DataFormatException.class,
                () -> CifarDataset.load(List.of(whole), CifarDataset.Kind.CIFAR100));
        assertTrue(e.getMessage().contains("CIFAR-10?"), e.getMessage());
    }

    @Test
    void labelOutOfRangeNamesFileRecordValueAndRange() {
        Path file = write(dir.resolve("batch.bin"),
                cifarRecords(null, new int[] {1, 2, 10}, randomBytes(3 * 3072, 1)));
        var e = assertThrows(DataFormatException.class,
                () -> CifarDataset.load(List.of(file), CifarDataset.Kind.CIFAR10));
        String m = e.getMessage();
        assertTrue(m.contains(file.toString()) && m.contains("record 2 (byte offset 6146) is 10")
                && m.contains("0..9"), m);

        Path hundred = write(dir.resolve("train.bin"),
                cifarRecords(new int[] {20}, new int[] {5}, randomBytes(3072, 1)));
        e = assertThrows(DataFormatException.class,
                () -> CifarDataset.load(List.of(hundred), CifarDataset.Kind.CIFAR100));
        assertTrue(e.getMessage().contains("coarse label of record 0") && e.getMessage().contains("0..19"),
                e.getMessage());
    }

    @Test
    void badDirectoriesAreExplained() {
        var e = assertThrows(DataFormatException.class, () -> CifarDataset.loadDirectory(dir, true));
        assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("data_batch_1..5.bin"));

        Path cifar = dir.resolve("c10");
        write(cifar.resolve("test_batch.bin"), cifarRecords(null, new int[] {1}, randomBytes(3072, 1)));
        write(cifar.resolve("data_batch_1.bin"), cifarRecords(null, new int[] {1}, randomBytes(3072, 1)));
        write(cifar.resolve("batches.meta.txt"), "a\nb\n");
        e = assertThrows(DataFormatException.class, () -> CifarDataset.loadDirectory(cifar, true));
        assertTrue(e.getMessage().contains("data_batch_2.bin") && e.getMessage().contains("missing"),
                e.getMessage());
        e = assertThrows(DataFormatException.class, () -> CifarDataset.loadDirectory(cifar, false));
        assertTrue(e.getMessage().contains("batches.meta.txt") && e.getMessage().contains("expected 10 class names")
                && e.getMessage().contains("found 2"), e.getMessage());
    }
}
