package dev.tornadovit.train;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.data.DefaultData;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trainer's data-parallel steps, as seen by rank 1 of 2, against a stand-in for the other rank: the collectives
 * are answered here, so each step's decisions can be checked without mpirun.
 */
class DataParallelRunTest {
    private static final ViTConfig CONFIG = new ViTConfig(28, 28, 1, 7, 10, 16, 1, 2, 32, Pooling.CLS, PositionEmbedding.LEARNED,
            AttentionConfig.softmax(), 0);

    /** Rank 1 of 2; rank 0's part of every collective is played by the fields below. */
    private static final class OtherRank implements Distributed {
        /** Whether rank 0's state hash differs from this rank's. */
        boolean drifted;
        /** What rank 0 broadcasts: every float, and the strings in turn. */
        float rootValue;
        final List<String> rootStrings = new ArrayList<>();
        int floatBroadcasts;
        private byte[] pendingString;

        @Override
        public int rank() {
            return 1;
        }

        @Override
        public int size() {
            return 2;
        }

        @Override
        public void sum(float[] values, int n) {
            for (int i = 0; i < n; i++) values[i] *= 2;
        }

        @Override
        public void sum(double[] values, int n) {
            for (int i = 0; i < n; i++) values[i] *= 2;
        }

        @Override
        public void max(long[] values, int n) {
            if (drifted) values[0] += 1;
        }

        /** Rank 0 holds the same values: the sum doubles them. */
        @Override
        public void startSum(MemorySegment values, int n) {
            for (int i = 0; i < n; i++) values.setAtIndex(JAVA_FLOAT, i, 2 * values.getAtIndex(JAVA_FLOAT, i));
        }

        @Override
        public boolean progressSums() {
            return true;
        }

        @Override
        public void awaitSums() {
        }

        @Override
        public void broadcast(float[] values, int n, int root) {
            floatBroadcasts++;
            Arrays.fill(values, 0, n, rootValue);
        }

        @Override
        public void broadcast(byte[] values, int n, int root) {
            if (pendingString == null) {
                pendingString = rootStrings.removeFirst().getBytes(java.nio.charset.StandardCharsets.UTF_8);
                java.nio.ByteBuffer.wrap(values).putInt(pendingString.length);
            } else {
                System.arraycopy(pendingString, 0, values, 0, n);
                pendingString = null;
            }
        }

        @Override
        public void barrier() {
        }

        @Override
        public void abort(int code) {
            throw new AssertionError("abort " + code);
        }

        @Override
        public double collectiveSeconds() {
            return 0;
        }

        @Override
        public String describe() {
            return "rank 1 of 2 (test)";
        }

        @Override
        public void close() {
        }
    }

    private static float firstWeight(VisionTransformer model) {
        Parameter p = model.parameters().getFirst();
        return model.backend().downloadFloat(p.value())[0];
    }

    @Test
    void ranksThatAgreeKeepTheirWeightsAndDriftedOnesTakeRankZeros() {
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            AdamW optimizer = new AdamW(be, model.parameters(), AdamW.Settings.defaults());
            OtherRank other = new OtherRank();
            DataParallelRun run = new DataParallelRun(other, model, optimizer);
            float before = firstWeight(model);
            run.keepRanksEqual();
            assertEquals(0, other.floatBroadcasts);
            assertEquals(before, firstWeight(model));

            other.drifted = true;
            other.rootValue = 0.25f;
            run.keepRanksEqual();
            assertEquals(1, other.floatBroadcasts);
            assertEquals(0.25f, firstWeight(model));
        }
    }

    @Test
    void rankZerosStateAndStepReachTheOtherRanks() {
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            AdamW optimizer = new AdamW(be, model.parameters(), AdamW.Settings.defaults());
            OtherRank other = new OtherRank();
            DataParallelRun run = new DataParallelRun(other, model, optimizer);
            TrainingState rootState = new TrainingState(2, 5, 37, 0.5, 1, 12.5, 0, 0, 0, List.of());
            other.rootStrings.add("37\n" + rootState.toJson());
            other.rootValue = -1;
            TrainingState shared = run.shareRootState(TrainingState.start());
            assertEquals(rootState, shared);
            assertEquals(37, optimizer.step());
            assertEquals(-1f, firstWeight(model));
            assertEquals(-1f, be.downloadFloat(optimizer.secondMoments())[optimizer.momentOffset(0)]);
        }
    }

    @Test
    void theBatchMustSplitEvenlyAndTheEvaluationTakesItsPart() {
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            DataParallelRun run = new DataParallelRun(new OtherRank(), model,
                    new AdamW(be, model.parameters(), AdamW.Settings.defaults()));
            assertEquals(8, run.shardSize(16));
            var e = assertThrows(IllegalArgumentException.class, () -> run.shardSize(15));
            assertTrue(e.getMessage().contains("--batch-size 15") && e.getMessage().contains("2 ranks"), e.getMessage());

            ImageDataset eval = DefaultData.fashionMnist(false).subset(IntStream.range(0, 30).toArray());
            BatchInput input = new BatchInput(be, CONFIG, 8);
            // Rank 1 of 2 evaluates images 15..29; the stand-in doubles its sums, as if rank 0's part were the same.
            Evaluation part = Evaluation.run(model, eval.subset(IntStream.range(15, 30).toArray()), null, input);
            Evaluation total = run.evaluate(eval, null, input);
            assertEquals(30, total.samples());
            assertEquals(part.loss(), total.loss(), 1e-12);
            assertEquals(part.accuracy(), total.accuracy(), 1e-12);
            assertFalse(Double.isNaN(total.loss()));
        }
    }
}
