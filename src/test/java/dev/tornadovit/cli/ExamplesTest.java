package dev.tornadovit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Builds (they are test sources) and runs the programs in examples/, as a user would. */
class ExamplesTest {

    static String runMain(String className, String... args) throws Exception {
        Method main = Class.forName(className).getMethod("main", String[].class);
        PrintStream old = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true));
        try {
            main.invoke(null, (Object) args);
        } finally {
            System.setOut(old);
        }
        return captured.toString();
    }

    @Test
    void trainCustomAttentionThenClassifyImages(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run");
        String trained = runMain("TrainCustomAttention", run.toString(), "1024");
        assertTrue(trained.contains("relu/L^1.0 +qknorm +reattn(layernorm,last:2)"), trained);
        assertTrue(trained.contains("test accuracy after 1024 images"), trained);
        Path checkpoint = run.resolve("best.safetensors");
        assertTrue(Files.exists(checkpoint));

        // A bright rectangle on black, like a Fashion-MNIST trouser; the example must name three classes for it.
        BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 2; y < 26; y++) for (int x = 10; x < 18; x++) img.getRaster().setSample(x, y, 0, 220);
        Path png = dir.resolve("trouser.png");
        ImageIO.write(img, "png", png.toFile());
        String out = runMain("ClassifyImages", checkpoint.toString(), png.toString());
        String[] lines = out.strip().split("\n");
        assertTrue(lines.length == 4 && lines[0].endsWith("trouser.png") && lines[1].contains("%"), out);
        // Probabilities are printed best first.
        double p1 = Double.parseDouble(lines[1].trim().split("%")[0]), p3 = Double.parseDouble(lines[3].trim().split("%")[0]);
        assertTrue(p1 >= p3, out);
    }

    @Test
    void fineTunePretrainedStartsFromATimmFolder(@TempDir Path dir) throws Exception {
        Path data = FineTuneCliTest.imageFolder(dir.resolve("data"));
        String out = runMain("FineTunePretrained", "src/test/resources/pretrained/timm_cls", data.toString(),
                dir.resolve("run").toString(), "16", "1");
        assertTrue(out.contains("timm checkpoint") && out.contains("new: [head.weight, head.bias]")
                && out.contains("position embeddings resampled"), out);
        assertTrue(out.contains("test accuracy after 1 epochs"), out);
        assertTrue(Files.exists(dir.resolve("run").resolve("best.safetensors")));
    }
}
