package dev.tornadovit.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** timm's evaluation transform: resize the shorter side to size / crop_pct, then cut out the centre. */
class CentreCropTest {

    private static Path grey(Path file, int height, int width, int[][] values) throws IOException {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < height; y++) for (int x = 0; x < width; x++) image.getRaster().setSample(x, y, 0, values[y][x]);
        ImageIO.write(image, "png", file.toFile());
        return file;
    }

    @Test
    void aCropOfHalfAtTheImagesOwnScaleIsItsCentreExactly(@TempDir Path dir) throws IOException {
        Random random = new Random(5);
        int[][] v = new int[20][20];
        for (int[] row : v) for (int x = 0; x < row.length; x++) row[x] = random.nextInt(256);
        Path file = grey(dir.resolve("a.png"), 20, 20, v);
        ImageDataset d = ImageFolderDataset.loadFiles(List.of(file), 10, 10, 1, 0.5);
        for (int y = 0; y < 10; y++) for (int x = 0; x < 10; x++) assertEquals(v[y + 5][x + 5], d.pixel(0, 0, y, x));
    }

    @Test
    void aWideImageKeepsItsAspectAndLosesItsSides(@TempDir Path dir) throws IOException {
        int[][] v = new int[20][40];
        for (int[] row : v) for (int x = 10; x < 30; x++) row[x] = 200;   // dark sides, a bright middle square
        Path file = grey(dir.resolve("wide.png"), 20, 40, v);
        ImageDataset cropped = ImageFolderDataset.loadFiles(List.of(file), 10, 10, 1, 1.0);
        for (int y = 0; y < 10; y++) for (int x = 0; x < 10; x++) assertEquals(200, cropped.pixel(0, 0, y, x));
        ImageDataset stretched = ImageFolderDataset.loadFiles(List.of(file), 10, 10, 1);
        assertEquals(0, stretched.pixel(0, 0, 5, 0));
    }
}
