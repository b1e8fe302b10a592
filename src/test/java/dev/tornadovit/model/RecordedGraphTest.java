package dev.tornadovit.model;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.AdamW;
import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Recorded-graph handles on the CPU backends (the body runs at every run), and the model's handles: made once for
 * each batch size and mode when it first appears, kept while the workspace stays, and made anew after it is
 * reallocated.
 */
class RecordedGraphTest {

    @Test
    void theCpuBackendsRunTheBodyAtEveryRunAndNotBefore() {
        for (Backend be : List.of(new CpuBackend(1), new ReferenceBackend())) {
            try (be) {
                Tensor x = be.allocate(2), total = be.allocate(2);
                be.upload(x, new float[]{1, 2});
                AtomicInteger bodyRuns = new AtomicInteger();
                RecordedGraph graph = be.record("accumulate", () -> {
                    bodyRuns.incrementAndGet();
                    be.accumulate(total, x, 2);
                });
                assertEquals(0, bodyRuns.get(), be.name() + ": recording a handle runs nothing");
                for (int step = 1; step <= 3; step++) {
                    graph.run();
                    be.upload(x, new float[]{10, 20}); // a host value read again at the next run
                }
                assertEquals(3, bodyRuns.get(), be.name());
                assertArrayEquals(new double[]{21, 42}, be.downloadDouble(total), be.name());
            }
        }
    }

    @Test
    void theModelMakesEachGraphOncePerBatchSizeAndMode() {
        ViTConfig config = new ViTConfig(8, 8, 3, 4, 5, 16, 2, 2, 32, Pooling.CLS, PositionEmbedding.LEARNED,
                AttentionConfig.softmax(), 0);
        List<String> labels = new ArrayList<>();
        try (CpuBackend cpu = new CpuBackend(1)) {
            Backend be = countingRecords(cpu, labels);
            VisionTransformer model = new VisionTransformer(config, be, 1);
            AdamW optimizer = new AdamW(be, model.parameters(), AdamW.Settings.defaults());
            assertEquals(List.of("zero-gradients", "optimizer.gradnorm", "optimizer.adamw"), labels);
            model.reserve(4);
            Tensor images = be.allocate(4 * 3 * 8 * 8), labelsTensor = be.allocate(4);
            Runnable[] train = new Runnable[5];
            for (int batch = 1; batch < train.length; batch++) {
                int b = batch;
                train[b] = () -> {
                    model.setTraining(true);
                    model.zeroGradients();
                    model.forward(images, b);
                    model.lossAndGradient(labelsTensor, b);
                    model.backward(b);
                    optimizer.step(1e-3);
                };
            }
            // A new batch size or mode gets a handle for every graph a step can run (made, not yet run: a recording
            // backend records at the first run): embedding, 2 blocks, head, loss; backward: head, 2 blocks, embedding.
            int perShape = 1 + 2 + 1 + 1 + 1 + 2 + 1;
            int before = labels.size();
            train[4].run();
            assertEquals(before + perShape, labels.size(), "the first training step at batch 4: " + labels);
            assertTrue(labels.containsAll(List.of("block0.forward", "block1.backward", "embed.forward",
                    "head.forward", "loss", "head.backward", "embed.backward")), labels.toString());
            train[4].run();
            assertEquals(before + perShape, labels.size(), "the same shape again: no new graphs");

            model.setTraining(false);
            model.forward(images, 4);
            assertEquals(before + 2 * perShape - 1, labels.size(), "evaluation has graphs of its own (no loss yet)");
            model.forward(images, 4);
            train[2].run();
            assertEquals(before + 3 * perShape - 1, labels.size(), "a second batch size");
            train[4].run();
            model.setTraining(false);
            model.forward(images, 4);
            train[2].run();
            assertEquals(before + 3 * perShape - 1, labels.size(), "both sizes are kept");

            model.setTraining(false);
            Tensor otherImages = be.allocate(4 * 3 * 8 * 8);
            model.forward(otherImages, 4);
            assertEquals(before + 3 * perShape, labels.size(),
                    "another input tensor: one new embedding graph");
            assertEquals("embed.forward", labels.getLast());

            model.reserve(8); // a new workspace: graphs over the old tensors are not run again
            train[4].run();
            assertEquals(before + 4 * perShape, labels.size(), "new graphs after reallocating");
            for (String once : List.of("zero-gradients", "optimizer.gradnorm", "optimizer.adamw")) {
                assertEquals(1, labels.stream().filter(once::equals).count(), once + " is made once: " + labels);
            }
        }
    }

    /** Passes every call to {@code real}, noting the label of each graph made. */
    private static Backend countingRecords(Backend real, List<String> labels) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("record")) labels.add((String) args[0]);
                    try {
                        return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
