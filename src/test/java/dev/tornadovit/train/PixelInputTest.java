package dev.tornadovit.train;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.data.Augmentation;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trainer and the evaluation hand the backend 8-bit pixels ({@link Backend#uploadPixels}), never the floats they
 * become: counted through a proxy of the backend, so that a fall back to float batches fails here.
 */
class PixelInputTest {
    private static final ViTConfig CONFIG = new ViTConfig(8, 8, 3, 4, 3, 16, 1, 2, 32, Pooling.CLS,
            PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0);

    /** Counts the pixel uploads, their bytes, and the tensors that received pixels or floats. */
    private static final class Uploads implements InvocationHandler {
        final Backend target;
        int pixelUploads;
        long pixelBytes;
        final Set<Tensor> pixelTargets = Collections.newSetFromMap(new IdentityHashMap<>());
        final Set<Tensor> floatTargets = Collections.newSetFromMap(new IdentityHashMap<>());

        Uploads(Backend target) {
            this.target = target;
        }

        Backend proxy() {
            return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class}, this);
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            if (method.getName().equals("uploadPixels")) {
                pixelUploads++;
                pixelBytes += (long) (int) args[2] * CONFIG.channels() * (int) args[3];
                pixelTargets.add((Tensor) args[0]);
            } else if (method.getName().equals("upload")) {
                floatTargets.add((Tensor) args[0]);
            }
            try {
                return method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        }
    }

    private static ImageDataset dataset(int count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        byte[] pixels = new byte[count * 3 * 8 * 8];
        random.nextBytes(pixels);
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) labels[i] = random.nextInt(3);
        return new ImageDataset(3, 8, 8, List.of("a", "b", "c"), pixels, labels);
    }

    @Test
    void trainerAndEvaluationUploadPixels(@TempDir Path dir) {
        ImageDataset train = dataset(40, 1), eval = dataset(13, 2);
        // 5 steps of 8 images; evaluation in batches of 5, 5 and the last 3
        TrainingOptions options = new TrainingOptions(1, 0, 8, 1e-3, 1e-5, 0, AdamW.Settings.defaults(),
                new Augmentation(1, true), 3, 0, 5);
        try (CpuBackend cpu = new CpuBackend(1)) {
            Uploads uploads = new Uploads(cpu);
            VisionTransformer model = new VisionTransformer(CONFIG, uploads.proxy(), 1);
            List<EpochRecord> history = new Trainer(model, train, eval, Normalization.compute(train), options, dir,
                    null).run();
            assertTrue(Double.isFinite(history.getLast().evalLoss()));
            assertEquals(5 + 3, uploads.pixelUploads, "a pixel upload per training step and evaluation batch");
            assertEquals((40 + 13) * 3 * 8 * 8, uploads.pixelBytes, "every image went up once as pixels");
            assertEquals(2, uploads.pixelTargets.size(), "the training and the evaluation input");
            for (Tensor t : uploads.pixelTargets) {
                assertFalse(uploads.floatTargets.contains(t), "an image tensor received floats");
            }
        }
    }

    @Test
    void evaluationAloneUploadsPixels() {
        ImageDataset eval = dataset(13, 4);
        try (CpuBackend cpu = new CpuBackend(1)) {
            Uploads uploads = new Uploads(cpu);
            VisionTransformer model = new VisionTransformer(CONFIG, uploads.proxy(), 1);
            Evaluation ev = Evaluation.run(model, eval, null, 6);
            assertEquals(13, ev.samples());
            assertEquals(3, uploads.pixelUploads, "batches of 6, 6 and 1");
            assertEquals(13L * 3 * 8 * 8, uploads.pixelBytes);
        }
    }
}
