package dev.tornadovit.research;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.data.DefaultData;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.PoolMode;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionSimilarityTest {
    static final double EPS = 1e-12;

    /** [B,H,T,T] filled by a function of (b, h, i, j). */
    interface Entry {
        double at(int b, int h, int i, int j);
    }

    static float[] map(int batch, int heads, int tokens, Entry entry) {
        float[] m = new float[batch * heads * tokens * tokens];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < tokens; i++)
                    for (int j = 0; j < tokens; j++) m[((b * heads + h) * tokens + i) * tokens + j] = (float) entry.at(b, h, i, j);
        return m;
    }

    static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = r.nextFloat();
        return a;
    }

    @Test
    void identicalMapsAreFullySimilar() {
        Random r = new Random(1);
        float[] m = random(r, 2 * 3 * 5 * 5);
        AttentionSimilarity s = new AttentionSimilarity(3, 3, 5, 4);
        s.add(new float[][]{m, m.clone(), m.clone()}, null, 2);
        AttentionSimilarity.Result res = s.result();
        for (double[] row : res.crossLayer()) for (double v : row) assertEquals(1, v, 1e-9);
        assertEquals(2, res.similarBlocks(0.9));
        assertArrayEquals(new int[]{1, 2}, res.similarBlockIndices(0.9));
        assertEquals(0, res.undefinedFraction()[0][1]);
    }

    @Test
    void mapsWithDisjointSupportAreOrthogonal() {
        // Block 0: queries in the first half attend; block 1: those in the second half. Columns share no row.
        int t = 6;
        float[] first = map(1, 2, t, (b, h, i, j) -> i < t / 2 ? 1 + j : 0);
        float[] second = map(1, 2, t, (b, h, i, j) -> i >= t / 2 ? 2 : 0);
        AttentionSimilarity s = new AttentionSimilarity(2, 2, t, 1);
        s.add(new float[][]{first, second}, null, 1);
        var res = s.result();
        assertEquals(0, res.crossLayer()[0][1], EPS);
        assertEquals(0, res.crossLayer()[1][0], EPS);
        assertEquals(1, res.crossLayer()[0][0], EPS);
        assertEquals(0, res.similarBlocks(0.9));
    }

    @Test
    void knownAngleBetweenColumns() {
        // Every column of block 0 is (1, 0), of block 1 (1, 1): cosine 1/√2 everywhere.
        float[] a = map(1, 1, 2, (b, h, i, j) -> i == 0 ? 1 : 0);
        float[] c = map(1, 1, 2, (b, h, i, j) -> 1);
        AttentionSimilarity s = new AttentionSimilarity(2, 1, 2, 1);
        s.add(new float[][]{a, c}, null, 1);
        assertEquals(1 / Math.sqrt(2), s.result().crossLayer()[0][1], 1e-7);
    }

    @Test
    void columnsNotRowsAreCompared() {
        // Row-wise these maps are identical up to scale per row; column-wise they differ. Block 0: A[i][j] = δ(j=0);
        // block 1: A[i][j] = δ(i=0). Column 0 of block 0 is (1,1), of block 1 (1,0): cos 1/√2; column 1 of block 0 is
        // zero → left out, so the mean is over column 0 only.
        float[] a = map(1, 1, 2, (b, h, i, j) -> j == 0 ? 1 : 0);
        float[] c = map(1, 1, 2, (b, h, i, j) -> i == 0 ? 1 : 0);
        AttentionSimilarity s = new AttentionSimilarity(2, 1, 2, 1);
        s.add(new float[][]{a, c}, null, 1);
        var res = s.result();
        assertEquals(1 / Math.sqrt(2), res.crossLayer()[0][1], 1e-7);
        assertEquals(0.5, res.undefinedFraction()[0][1], EPS);
    }

    @Test
    void batchesAccumulateLikeOneBatch() {
        Random r = new Random(7);
        int heads = 2, t = 4, d = 3;
        float[][] maps = {random(r, 4 * heads * t * t), random(r, 4 * heads * t * t)};
        float[][] outputs = {random(r, 4 * t * d), random(r, 4 * t * d)};
        AttentionSimilarity whole = new AttentionSimilarity(2, heads, t, d), parts = new AttentionSimilarity(2, heads, t, d);
        whole.add(maps, outputs, 4);
        int mapHalf = 2 * heads * t * t, outHalf = 2 * t * d;
        parts.add(new float[][]{java.util.Arrays.copyOf(maps[0], mapHalf), java.util.Arrays.copyOf(maps[1], mapHalf)},
                new float[][]{java.util.Arrays.copyOf(outputs[0], outHalf), java.util.Arrays.copyOf(outputs[1], outHalf)}, 2);
        parts.add(new float[][]{java.util.Arrays.copyOfRange(maps[0], mapHalf, 2 * mapHalf), java.util.Arrays.copyOfRange(maps[1], mapHalf, 2 * mapHalf)},
                new float[][]{java.util.Arrays.copyOfRange(outputs[0], outHalf, 2 * outHalf), java.util.Arrays.copyOfRange(outputs[1], outHalf, 2 * outHalf)}, 2);
        var a = whole.result();
        var b = parts.result();
        assertEquals(a.crossLayer()[0][1], b.crossLayer()[0][1], 1e-12);
        assertArrayEquals(a.withinLayer(), b.withinLayer(), 1e-12);
        assertArrayEquals(a.featureToLast(), b.featureToLast(), 1e-12);
        assertEquals(4, b.images());
    }

    @Test
    void headsWithinALayer() {
        int t = 3;
        // Block 0: both heads the same map → 1. Block 1: head 0 attends to key 0 only, head 1 to key 1 only → 0.
        float[] same = map(2, 2, t, (b, h, i, j) -> 1 + i + 2 * j);
        float[] apart = map(2, 2, t, (b, h, i, j) -> j == h ? 1 : 0);
        AttentionSimilarity s = new AttentionSimilarity(2, 2, t, 1);
        s.add(new float[][]{same, apart}, null, 2);
        assertEquals(1, s.result().withinLayer()[0], 1e-9);
        assertEquals(0, s.result().withinLayer()[1], EPS);
        // Three heads: pairs (0,1) = 1, (0,2) = 0, (1,2) = 0 → mean 1/3.
        float[] three = map(1, 3, t, (b, h, i, j) -> h < 2 ? (j == 0 ? 1 : 0) : (j == 1 ? 1 : 0));
        AttentionSimilarity s3 = new AttentionSimilarity(1, 3, t, 1);
        s3.add(new float[][]{three}, null, 1);
        assertEquals(1.0 / 3, s3.result().withinLayer()[0], 1e-9);
    }

    @Test
    void featureSimilarityToTheLastBlock() {
        int t = 2, d = 3;
        float[] last = {1, 2, 3, -1, 0, 2};
        float[] negated = new float[last.length], orthogonal = {2, -1, 0, 0, 1, 0};
        for (int i = 0; i < last.length; i++) negated[i] = -last[i];
        float[] map = map(1, 1, t, (b, h, i, j) -> 1);
        AttentionSimilarity s = new AttentionSimilarity(3, 1, t, d);
        s.add(new float[][]{map, map, map}, new float[][]{negated, orthogonal, last}, 1);
        assertArrayEquals(new double[]{-1, 0, 1}, s.result().featureToLast(), 1e-9);
    }

    @Test
    void similarBlocksCountFromTheFirstCollapsedBlock() {
        // Four blocks: 1 and 2 distinct, 2, 3 and 4 identical → blocks 3 and 4 (1-based) are similar to their predecessor.
        int t = 4;
        float[] a = map(1, 1, t, (b, h, i, j) -> i == j ? 1 : 0);
        float[] c = map(1, 1, t, (b, h, i, j) -> 1);
        AttentionSimilarity s = new AttentionSimilarity(4, 1, t, 1);
        s.add(new float[][]{a, c, c, c}, null, 1);
        var res = s.result();
        assertEquals(2, res.similarBlocks(0.9));
        assertArrayEquals(new int[]{2, 3}, res.similarBlockIndices(0.9));
        assertEquals(0.5, res.crossLayer()[0][1], 1e-9); // (1,0,0,0)·(1,1,1,1)/2
        assertEquals((0.5 + 1 + 1) / 3, res.meanAdjacent(), 1e-9);
        assertTrue(Double.isNaN(res.toNext(3, 1)));
    }

    @Test
    void centredSimilarityIgnoresOffsetsAndScale() {
        // Columns (1,2,3) and (7,9,11) = 2·(1,2,3) + 5: cosine below 1, correlation exactly 1. A constant column has
        // no centred direction and is left out.
        float[] a = map(1, 1, 3, (b, h, i, j) -> j == 2 ? 4 : i + 1);
        float[] c = map(1, 1, 3, (b, h, i, j) -> 2 * (i + 1) + 5);
        AttentionSimilarity plain = new AttentionSimilarity(2, 1, 3, 1), centred = new AttentionSimilarity(2, 1, 3, 1, true);
        plain.add(new float[][]{a, c}, null, 1);
        centred.add(new float[][]{a, c}, null, 1);
        double cos = (1 * 7 + 2 * 9 + 3 * 11) / Math.sqrt(14.0 * (49 + 81 + 121));
        assertEquals((2 * cos + (4 * 7 + 4 * 9 + 4 * 11) / Math.sqrt(48.0 * 251)) / 3, plain.result().crossLayer()[0][1], 1e-6);
        assertEquals(1, centred.result().crossLayer()[0][1], 1e-6);
        assertEquals(1.0 / 3, centred.result().undefinedFraction()[0][1], 1e-12);
        // Heads: anti-correlated maps give −1 centred.
        float[] heads = map(1, 2, 2, (b, h, i, j) -> h == 0 ? i * 2 + j : 3 - (i * 2 + j));
        AttentionSimilarity within = new AttentionSimilarity(1, 2, 2, 1, true);
        within.add(new float[][]{heads}, null, 1);
        assertEquals(-1, within.result().withinLayer()[0], 1e-9);
    }

    @Test
    void rejectsShortMaps() {
        AttentionSimilarity s = new AttentionSimilarity(1, 2, 3, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> s.add(new float[][]{new float[10]}, null, 1));
        assertTrue(e.getMessage().contains("block 0") && e.getMessage().contains("18"), e.getMessage());
    }

    @Test
    void aRealModelsMapsAreMeasured() {
        // A small random ViT (softmax): maps come out of the model, the diagonal is 1 and the matrix is symmetric.
        var config = new ViTConfig(28, 28, 1, 7, 10, 16, 3, 2, 32, Pooling.CLS, PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0);
        var data = DefaultData.fashionMnist(false).subset(IntStream.range(0, 40).toArray());
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(config, be, 3);
            FrozenModel.Collapse c = FrozenModel.collapse(model, data, null, 16, false);
            var r = c.similarity();
            assertEquals(40, r.images());
            for (int p = 0; p < 3; p++) {
                assertEquals(1, r.crossLayer()[p][p], 1e-6);
                for (int q = 0; q < 3; q++) {
                    assertEquals(r.crossLayer()[p][q], r.crossLayer()[q][p], 0);
                    assertTrue(r.crossLayer()[p][q] > 0 && r.crossLayer()[p][q] <= 1 + 1e-9);
                }
            }
            assertEquals(1, r.featureToLast()[2], 1e-6);
            assertTrue(c.accuracy() >= 0 && c.accuracy() <= 1);
            assertTrue(model.isTraining(), "training mode is restored");
        }
    }
}
