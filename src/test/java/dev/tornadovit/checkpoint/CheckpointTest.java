package dev.tornadovit.checkpoint;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.AdamW;
import dev.tornadovit.train.LearningRateSchedule;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointTest {
    static final ViTConfig CONFIG = new ViTConfig(8, 8, 3, 4, 5, 16, 2, 4, 32, Pooling.CLS, PositionEmbedding.LEARNED,
            AttentionConfig.reluOverL().withGate(true).withReattention(ReattentionNorm.BATCHNORM, new ReattentionBlocks.Last(1)), 0);

    static float[] logits(VisionTransformer model, float[] images, int batch) {
        var be = model.backend();
        Tensor t = be.allocate(images.length);
        be.upload(t, images);
        model.setTraining(false);
        return be.downloadFloat(model.forward(t, batch));
    }

    static float[] randomImages(int batch) {
        Random r = new Random(3);
        float[] x = new float[batch * 3 * 8 * 8];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    @Test
    void savedCheckpointReloadsToBitIdenticalLogits(@TempDir Path dir) throws Exception {
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 9);
            // Move BatchNorm's running statistics away from their initial values: they must be saved too.
            model.setTraining(true);
            Tensor imgs = be.allocate(4 * 3 * 64);
            be.upload(imgs, randomImages(4));
            model.forward(imgs, 4);
            Path file = dir.resolve("m.safetensors");
            Checkpoint.save(file, model, null, null);
            VisionTransformer loaded = Checkpoint.loadModel(file, be);
            assertEquals(CONFIG, loaded.config());
            assertArrayEquals(logits(model, randomImages(4), 4), logits(loaded, randomImages(4), 4));
            assertTrue(Files.list(dir).allMatch(p -> p.getFileName().toString().equals("m.safetensors")),
                    "no temporary file is left behind");
        }
    }

    @Test
    void timmNamesAndShapes(@TempDir Path dir) {
        try (CpuBackend be = new CpuBackend()) {
            Path file = dir.resolve("m.safetensors");
            Checkpoint.save(file, new VisionTransformer(CONFIG, be, 1), null, null);
            Map<String, Safetensors.Entry> t = Safetensors.read(file).tensors();
            assertArrayEquals(new long[]{16, 3, 4, 4}, t.get("patch_embed.proj.weight").shape());
            assertArrayEquals(new long[]{1, 1, 16}, t.get("cls_token").shape());
            assertArrayEquals(new long[]{1, 5, 16}, t.get("pos_embed").shape());
            assertArrayEquals(new long[]{48, 16}, t.get("blocks.0.attn.qkv.weight").shape());
            assertArrayEquals(new long[]{4, 4}, t.get("blocks.1.attn.reattn.weight").shape());
            assertTrue(t.containsKey("blocks.1.attn.reattn_norm.running_var") && !t.containsKey("blocks.0.attn.reattn.weight"));
            assertArrayEquals(new long[]{5, 16}, t.get("head.weight").shape());
        }
    }

    /** A corrupted file fails with file, tensor and expected shape named, and the model keeps its weights. */
    @Test
    void badFilesAreRejectedWithoutLoadingAnything(@TempDir Path dir) throws Exception {
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer source = new VisionTransformer(CONFIG, be, 1);
            Path good = dir.resolve("good.safetensors");
            Checkpoint.save(good, source, null, null);
            byte[] bytes = Files.readAllBytes(good);

            Path truncated = dir.resolve("truncated.safetensors");
            Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 100));
            assertMessage(truncated, be, "truncated.safetensors", "truncated");

            Path header = dir.resolve("header.safetensors");
            byte[] wrong = bytes.clone();
            ByteBuffer.wrap(wrong).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40);
            Files.write(header, wrong);
            assertMessage(header, be, "header.safetensors", "wrong header");

            Path notJson = dir.resolve("garbage.safetensors");
            Files.write(notJson, "this is not a safetensors file at all".getBytes(StandardCharsets.UTF_8));
            assertMessage(notJson, be, "garbage.safetensors", "wrong header");

            // Same names, one tensor with the wrong shape: written with another model's head.
            ViTConfig sixClasses = new ViTConfig(8, 8, 3, 4, 6, 16, 2, 4, 32, Pooling.CLS, PositionEmbedding.LEARNED, CONFIG.attention(), 0);
            Path shape = dir.resolve("shape.safetensors");
            Checkpoint.save(shape, new VisionTransformer(sixClasses, be, 1), null, null);
            VisionTransformer target = new VisionTransformer(CONFIG, be, 2);
            List<float[]> before = target.parameters().stream().map(p -> be.downloadFloat(p.value())).toList();
            SafetensorsException e = assertThrows(SafetensorsException.class,
                    () -> Checkpoint.loadWeights(target, Safetensors.read(shape), shape));
            assertTrue(e.getMessage().contains("shape.safetensors") && e.getMessage().contains("'head.weight'")
                    && e.getMessage().contains("expected [5, 16]"), e.getMessage());
            List<Parameter> ps = target.parameters();
            for (int i = 0; i < ps.size(); i++) {
                assertArrayEquals(before.get(i), be.downloadFloat(ps.get(i).value()), "nothing loaded: " + ps.get(i).name());
            }
        }
    }

    static void assertMessage(Path file, CpuBackend be, String... parts) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Checkpoint.loadModel(file, be));
        for (String part : parts) assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    @Test
    void learningRateWarmsUpThenDecaysToTheMinimum() {
        LearningRateSchedule s = new LearningRateSchedule(1e-3, 10, 110, 1e-5);
        assertEquals(1e-4, s.at(0), 1e-15);
        assertEquals(1e-3, s.at(9), 1e-15);
        assertEquals(1e-3, s.at(10), 1e-15);
        assertEquals((1e-3 + 1e-5) / 2, s.at(60), 1e-12);
        assertEquals(1e-5, s.at(110), 1e-15);
        for (int i = 11; i < 110; i++) assertTrue(s.at(i) <= s.at(i - 1));
    }
}
