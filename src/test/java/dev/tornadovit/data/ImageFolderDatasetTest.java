package dev.tornadovit.data;

import static dev.tornadovit.data.TestFiles.write;
import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderDatasetTest {

    @TempDir
    Path root;

    private static BufferedImage randomRgb(int height, int width, long seed) {
        Random random = new Random(seed);
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, random.nextInt(1 << 24));
            }
        }
        return image;
    }

    private static Path save(BufferedImage image, Path file, String format) throws IOException {
        Files.createDirectories(file.getParent());
        assertTrue(ImageIO.write(image, format, file.toFile()));
        return file;
    }

    @Test
    void rgbPngRoundTripsExactlyWithSortedClasses() throws IOException {
        BufferedImage cat = randomRgb(6, 5, 1);
        BufferedImage dog1 = randomRgb(6, 5, 2);
        BufferedImage dog2 = randomRgb(6, 5, 3);
        save(cat, root.resolve("cat/x.png"), "png");
        save(dog2, root.resolve("dog/b.PNG"), "png");
        save(dog1, root.resolve("dog/a.png"), "png");
        write(root.resolve("dog/notes.txt"), "not an image, skipped");
        write(root.resolve("dog/.hidden.png"), "hidden, skipped");

        ImageDataset ds = ImageFolderDataset.load(root, 6, 5, 3);
        assertEquals(List.of("cat", "dog"), ds.classNames());
        assertEquals(3, ds.size());
        assertEquals(List.of(0, 1, 1), List.of(ds.label(0), ds.label(1), ds.label(2)));
        BufferedImage[] expected = {cat, dog1, dog2}; // images within a class in name order
        for (int i = 0; i < 3; i++) {
            for (int y = 0; y < 6; y++) {
                for (int x = 0; x < 5; x++) {
                    int rgb = expected[i].getRGB(x, y);
                    assertEquals(rgb >> 16 & 0xFF, ds.pixel(i, 0, y, x));
                    assertEquals(rgb >> 8 & 0xFF, ds.pixel(i, 1, y, x));
                    assertEquals(rgb & 0xFF, ds.pixel(i, 2, y, x));
                }
            }
        }
    }

    @Test
    void greyPngKeepsRawValues() throws IOException {
        BufferedImage grey = new BufferedImage(4, 3, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 4; x++) {
                grey.getRaster().setSample(x, y, 0, 20 * (y * 4 + x) + 7);
            }
        }
        save(grey, root.resolve("only/g.png"), "png");
        ImageDataset ds = ImageFolderDataset.load(root, 3, 4, 1);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 4; x++) {
                assertEquals(20 * (y * 4 + x) + 7, ds.pixel(0, 0, y, x));
            }
        }
        ImageDataset asRgb = ImageFolderDataset.load(root, 3, 4, 3);
        assertEquals(ds.pixel(0, 0, 2, 3), asRgb.pixel(0, 2, 2, 3));
    }

    @Test
    void resizesJpegAndConvertsToGrey() throws IOException {
        BufferedImage flat = new BufferedImage(17, 11, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 11; y++) {
            for (int x = 0; x < 17; x++) {
                flat.setRGB(x, y, 0x40_80_C0);
            }
        }
        save(flat, root.resolve("a/flat.jpg"), "jpg");
        ImageDataset rgb = ImageFolderDataset.load(root, 8, 8, 3);
        assertEquals(8, rgb.height());
        assertEquals(8, rgb.width());
        // JPEG is lossy, but a flat colour survives within a couple of levels, and resizing keeps it flat.
        assertEquals(0x40, rgb.pixel(0, 0, 3, 5), 3);
        assertEquals(0x80, rgb.pixel(0, 1, 7, 0), 3);
        assertEquals(0xC0, rgb.pixel(0, 2, 0, 7), 3);
        ImageDataset grey = ImageFolderDataset.load(root, 8, 8, 1);
        assertEquals(0.299 * 0x40 + 0.587 * 0x80 + 0.114 * 0xC0, grey.pixel(0, 0, 4, 4), 3);
    }

    @Test
    void bilinearResizeInterpolatesBetweenPixelCentres() {
        float[] src = {0, 100};
        byte[] dst = new byte[4];
        ImageFolderDataset.resizeBilinear(src, 0, 1, 2, dst, 0, 1, 4);
        // Output centres at source x = -0.25, 0.25, 0.75, 1.25 (clamped to the edges).
        assertArrayEquals(new byte[] {0, 25, 75, 100}, dst);
    }

    @Test
    void unreadableImageNamesTheFile() throws IOException {
        save(randomRgb(4, 4, 1), root.resolve("good/a.png"), "png");
        Path broken = write(root.resolve("good/b.png"), "this is not a PNG");
        var e = assertThrows(DataFormatException.class, () -> ImageFolderDataset.load(root, 4, 4, 3));
        assertTrue(e.getMessage().contains(broken.toString()) && e.getMessage().contains("unreadable"),
                e.getMessage());
    }

    @Test
    void emptyRootAndEmptyClassFolderAreExplained() throws IOException {
        var e = assertThrows(DataFormatException.class, () -> ImageFolderDataset.load(root, 4, 4, 3));
        assertTrue(e.getMessage().contains(root.toString()) && e.getMessage().contains("no class subfolders"),
                e.getMessage());

        save(randomRgb(4, 4, 1), root.resolve("a/1.png"), "png");
        Path emptyClass = root.resolve("b");
        write(emptyClass.resolve("readme.txt"), "no images here");
        e = assertThrows(DataFormatException.class, () -> ImageFolderDataset.load(root, 4, 4, 3));
        assertTrue(e.getMessage().contains(emptyClass.toString()) && e.getMessage().contains("no images"),
                e.getMessage());

        Path notADir = root.resolve("a/1.png");
        e = assertThrows(DataFormatException.class, () -> ImageFolderDataset.load(notADir, 4, 4, 3));
        assertTrue(e.getMessage().contains("not a directory"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ImageFolderDataset.load(root, 4, 4, 2));
    }
}
