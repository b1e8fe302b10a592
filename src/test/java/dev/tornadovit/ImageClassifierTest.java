package dev.tornadovit;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.checkpoint.Checkpoint;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ImageClassifierTest {

    /** More images than one forward pass takes: classified in batches, each as if it were alone. */
    @Test
    void manyImagesAreClassifiedInBatchesAsEachAlone(@TempDir Path dir) throws IOException {
        ViTConfig config = new ViTConfig(8, 8, 3, 4, 4, 16, 1, 2, 16, Pooling.CLS, PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0);
        Path checkpoint = dir.resolve("model.safetensors");
        try (CpuBackend be = new CpuBackend()) {
            Checkpoint.save(checkpoint, new VisionTransformer(config, be, 7), null, null);
        }
        Random random = new Random(1);
        List<Path> images = new ArrayList<>();
        for (int i = 0; i < ImageClassifier.BATCH + 6; i++) {
            BufferedImage image = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) image.setRGB(x, y, random.nextInt(1 << 24));
            Path file = dir.resolve(i + ".png");
            ImageIO.write(image, "png", file.toFile());
            images.add(file);
        }
        try (ImageClassifier classifier = ImageClassifier.load(checkpoint, "cpu")) {
            List<List<ImageClassifier.Prediction>> all = classifier.classify(images, 4);
            assertEquals(images.size(), all.size());
            for (int i = 0; i < images.size(); i++) {
                List<ImageClassifier.Prediction> alone = classifier.classify(List.of(images.get(i)), 4).getFirst();
                for (int r = 0; r < 4; r++) {
                    assertEquals(alone.get(r).classIndex(), all.get(i).get(r).classIndex(), "image " + i);
                    assertEquals(alone.get(r).probability(), all.get(i).get(r).probability(), 1e-5, "image " + i);
                }
            }
        }
    }
}
