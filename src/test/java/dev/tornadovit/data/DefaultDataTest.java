package dev.tornadovit.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DefaultDataTest {

    @Test
    void bundledFashionMnistTestSetLoads() {
        Path dir = DefaultData.fashionMnistDir();
        assertTrue(Files.isDirectory(dir));
        ImageDataset test = FashionMnist.load(dir, false);
        assertEquals(10_000, test.size());
        assertEquals(1, test.channels());
        assertEquals(28, test.height());
        assertEquals(28, test.width());
        assertEquals(FashionMnist.CLASS_NAMES, test.classNames());
        // The test set is balanced: 1,000 images of each class, so every label is within 0..9.
        int[] counts = test.classCounts();
        assertEquals(10, counts.length);
        assertTrue(Arrays.stream(counts).allMatch(n -> n == 1000), Arrays.toString(counts));
    }

    @Test
    void wrongPropertyIsAnErrorNotASilentFallback(@TempDir Path empty) {
        String previous = System.getProperty(DefaultData.PROPERTY);
        System.setProperty(DefaultData.PROPERTY, empty.toString());
        try {
            var e = assertThrows(DataFormatException.class, DefaultData::fashionMnistDir);
            assertTrue(e.getMessage().contains(DefaultData.PROPERTY) && e.getMessage().contains(empty.toString()),
                    e.getMessage());
        } finally {
            if (previous == null) {
                System.clearProperty(DefaultData.PROPERTY);
            } else {
                System.setProperty(DefaultData.PROPERTY, previous);
            }
        }
    }

    @Test
    void propertyMayNameTheDataFolder() {
        Path bundled = DefaultData.fashionMnistDir();
        String previous = System.getProperty(DefaultData.PROPERTY);
        System.setProperty(DefaultData.PROPERTY, bundled.getParent().toString());
        try {
            assertEquals(bundled, DefaultData.fashionMnistDir());
        } finally {
            if (previous == null) {
                System.clearProperty(DefaultData.PROPERTY);
            } else {
                System.setProperty(DefaultData.PROPERTY, previous);
            }
        }
    }
}
