package dev.tornadovit.cli;

import dev.tornadovit.io.Safetensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** train --init-from a checkpoint written by timm, on a tiny image folder; then eval and predict. */
class FineTuneCliTest {
    static final Path TIMM = Path.of("src/test/resources/pretrained/timm_cls");

    /** Two classes told apart by colour: reddish and bluish 20×20 images with noise. */
    static Path imageFolder(Path root) throws IOException {
        Random random = new Random(3);
        for (String split : new String[]{"train", "test"}) {
            for (String cls : new String[]{"red", "blue"}) {
                Path dir = Files.createDirectories(root.resolve(split).resolve(cls));
                for (int i = 0; i < (split.equals("train") ? 8 : 4); i++) {
                    BufferedImage img = new BufferedImage(20, 20, BufferedImage.TYPE_INT_RGB);
                    for (int y = 0; y < 20; y++) {
                        for (int x = 0; x < 20; x++) {
                            int noise = random.nextInt(60), strong = 180 + random.nextInt(60);
                            img.setRGB(x, y, cls.equals("red") ? strong << 16 | noise << 8 | noise : noise << 16 | noise << 8 | strong);
                        }
                    }
                    ImageIO.write(img, "png", dir.resolve(cls + i + ".png").toFile());
                }
            }
        }
        return root;
    }

    @Test
    void aLinearProbeFromATimmCheckpointTrainsOnlyTheNewHead(@TempDir Path dir) throws IOException {
        Path data = imageFolder(dir.resolve("data")), run = dir.resolve("run");
        CliTest.Result r = CliTest.run("train", "--init-from", TIMM.toString(), "--data", data.toString(), "--image-size", "16",
                "--epochs", "2", "--batch-size", "4", "--lr", "1e-2", "--linear-probe", "--run-dir", run.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("final eval accuracy"), r.out());
        Safetensors.Contents timm = Safetensors.read(TIMM.resolve("model.safetensors"));
        Safetensors.Contents tuned = Safetensors.read(run.resolve("last.safetensors"));
        for (String frozen : new String[]{"blocks.1.attn.qkv.weight", "patch_embed.proj.weight", "norm.weight", "cls_token"}) {
            assertArrayEquals(timm.require(frozen, TIMM).toFloats(), tuned.require(frozen, run).toFloats(), frozen);
        }
        // 16-pixel images with 8-pixel patches: the 4x4 grid of position embeddings resampled to 2x2
        assertArrayEquals(new long[]{1, 5, 16}, tuned.require("pos_embed", run).shape());
        assertArrayEquals(new long[]{2, 16}, tuned.require("head.weight", run).shape());
        assertFalse(tuned.tensors().containsKey("optimizer.m.blocks.0.attn.qkv.weight"), "frozen parameters have no optimiser state");
        assertTrue(tuned.tensors().containsKey("optimizer.m.head.weight"));

        CliTest.Result eval = CliTest.run("eval", run.resolve("best.safetensors").toString(), "--data", data.toString());
        assertEquals(0, eval.code(), eval.err());
        assertTrue(eval.out().contains("top-1"), eval.out());
        CliTest.Result predict = CliTest.run("predict", run.resolve("best.safetensors").toString(),
                data.resolve("test/red/red0.png").toString(), "--top", "2");
        assertEquals(0, predict.code(), predict.err());
        assertTrue(predict.out().contains("red") && predict.out().contains("blue"), predict.out());

        // A resumable TornadoViT checkpoint (weights and optimiser state) starts a new fine-tuning run too.
        CliTest.Result again = CliTest.run("train", "--init-from", run.resolve("last.safetensors").toString(), "--data",
                data.toString(), "--image-size", "16", "--epochs", "1", "--batch-size", "4", "--run-dir", dir.resolve("again").toString());
        assertEquals(0, again.code(), again.err());
        assertArrayEquals(tuned.require("head.weight", run).shape(),
                Safetensors.read(dir.resolve("again/last.safetensors")).require("head.weight", run).shape());
    }

    @Test
    void fineTuningWithLayerDecaySwitchesTheAttentionToReluOverL(@TempDir Path dir) throws IOException {
        Path data = imageFolder(dir.resolve("data")), run = dir.resolve("run");
        CliTest.Result r = CliTest.run("train", "--init-from", TIMM.toString(), "--data", data.toString(), "--image-size", "32",
                "--epochs", "1", "--batch-size", "4", "--layer-decay", "0.7", "--attention", "relu", "--run-dir", run.toString());
        assertEquals(0, r.code(), r.err());
        String config = Files.readString(run.resolve("config.json"));
        assertTrue(config.contains("\"weights\" : \"pointwise\""), config);
        Safetensors.Contents timm = Safetensors.read(TIMM.resolve("model.safetensors"));
        Safetensors.Contents tuned = Safetensors.read(run.resolve("last.safetensors"));
        // same grid: no resampling; trained, so changed
        assertArrayEquals(timm.require("pos_embed", TIMM).shape(), tuned.require("pos_embed", run).shape());
        assertFalse(java.util.Arrays.equals(timm.require("blocks.0.attn.qkv.weight", TIMM).toFloats(),
                tuned.require("blocks.0.attn.qkv.weight", run).toFloats()));
    }

    @Test
    void architectureOptionsAndNumClassesAloneAreRefused(@TempDir Path dir) throws IOException {
        Path data = imageFolder(dir.resolve("data"));
        CliTest.Result width = CliTest.run("train", "--init-from", TIMM.toString(), "--data", data.toString(), "--width", "32",
                "--run-dir", dir.resolve("a").toString());
        assertTrue(width.code() != 0 && width.err().contains("--width cannot be combined with --init-from"), width.err());
        CliTest.Result classes = CliTest.run("train", "--data", data.toString(), "--num-classes", "3",
                "--run-dir", dir.resolve("b").toString());
        assertTrue(classes.code() != 0 && classes.err().contains("--num-classes needs --init-from"), classes.err());
    }

    @Test
    void predictReadsATransformersFolderAndPrintsItsLabels(@TempDir Path dir) throws IOException {
        Path data = imageFolder(dir.resolve("data"));
        CliTest.Result r = CliTest.run("predict", "src/test/resources/pretrained/hf_vit",
                data.resolve("test/blue/blue1.png").toString(), "--top", "4");
        assertEquals(0, r.code(), r.err());
        for (String label : new String[]{"ant", "bee", "cat", "dog"}) assertTrue(r.out().contains(label), r.out());
    }
}
