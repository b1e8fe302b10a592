package dev.tornadovit.tornado;

import dev.tornadovit.tornado.HeadsCallTest.Geometry;
import dev.tornadovit.tornado.cuda.CudaLibraryProvider.Epilogue;
import dev.tornadovit.tornado.cuda.ProductEpilogue;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static dev.tornadovit.tornado.HeadsCallTest.K;
import static dev.tornadovit.tornado.HeadsCallTest.Q;
import static dev.tornadovit.tornado.HeadsCallTest.V;
import static dev.tornadovit.tornado.HeadsCallTest.dot;
import static dev.tornadovit.tornado.HeadsCallTest.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the per-head calls with cuBLASLt's ReLU epilogues compute, on any machine: the calls
 * {@link CublasGemm#headsWithEpilogue} makes of pointwise ReLU attention's two products (the weights A = max(0,
 * α·q·kᵀ) with their bit mask, and dS = β·[A > 0]·(dO·vᵀ) reading it), carried out as cuBLASLt defines a strided
 * batch with those epilogues, against each image's and head's row-major result written out directly. The mask's bit
 * order inside cuBLASLt is its own; what this checks is the geometry both calls share: every product's bits lie inside
 * the mask tensor, no two products' bits overlap, and the gradient's call reads each product's bits where the weights'
 * call wrote them. On a CUDA device {@code HeadsInPlaceCoreTest} runs the products through cuBLASLt against the CPU.
 */
class EpilogueCallTest {
    @ParameterizedTest(name = "batch {0}, {1} heads of {2}, {3} tokens")
    @CsvSource({"2, 3, 4, 5", "1, 2, 8, 130", "3, 1, 3, 4", "2, 6, 4, 129"})
    void reluAndItsGradientInTheEpiloguesOfEveryHeadsProducts(int images, int heads, int headDim, int tokens) {
        Geometry g = new Geometry(images, heads, headDim, tokens);
        SplittableRandom random = new SplittableRandom(11);
        float[] qkv = random(random, images * tokens * 3 * g.width()), dO = random(random, images * tokens * g.width());
        float[] weights = random(random, images * heads * g.area()), dScores = random(random, weights.length);
        long maskBits = CublasGemm.maskValues(images, heads, tokens, tokens) * Float.SIZE
                        - ProductEpilogue.maskStartBytes() * 8;
        Boolean[] mask = new Boolean[Math.toIntExact(maskBits)];
        float alpha = 0.7f, beta = 0.4f;

        float[] weightsBefore = weights.clone();
        for (CublasGemm.EpilogueCall call : CublasGemm.headsWithEpilogue(g.part(Q), headDim, g.part(K), headDim,
                g.map(), g.area(), heads, tokens, tokens, headDim, images, 0, 1, alpha, 0, Epilogue.RELU_WITH_MASK,
                null)) {
            run(call, qkv, qkv, weights, mask);
        }
        for (int at = 0; at < mask.length; at++) {
            if (mask[at] != null) continue;
            // padding of a column up to a multiple of 128 bits is the only part no product writes
            long column = ProductEpilogue.maskLd(tokens);
            assertTrue(at % column >= tokens, "mask bit " + at + " inside a product's column was never written");
        }
        checkEveryHead(g, weights, weightsBefore, (b, h, i, j) -> Math.max(0f,
                alpha * dot(qkv, g.at(b, i, Q, h), 1, qkv, g.at(b, j, K, h), 1, headDim)));

        float[] dScoresBefore = dScores.clone();
        for (CublasGemm.EpilogueCall call : CublasGemm.headsWithEpilogue(g.head(), headDim, g.part(V), headDim,
                g.map(), g.area(), heads, tokens, tokens, headDim, images, 0, 1, beta, 0, Epilogue.RELU_GRADIENT,
                null)) {
            run(call, dO, qkv, dScores, mask);
        }
        checkEveryHead(g, dScores, dScoresBefore, (b, h, i, j) -> weights[g.mapAt(b, h, i, j)] > 0
                ? beta * dot(dO, g.headAt(b, i, h), 1, qkv, g.at(b, j, V, h), 1, headDim) : 0f);
    }

    /** ReLU alone in the scores' product: the same weights, and no mask. */
    @ParameterizedTest(name = "batch {0}, {1} heads of {2}, {3} tokens")
    @CsvSource({"2, 3, 4, 5", "1, 2, 8, 130"})
    void reluWithoutAMaskGivesTheSameWeights(int images, int heads, int headDim, int tokens) {
        Geometry g = new Geometry(images, heads, headDim, tokens);
        SplittableRandom random = new SplittableRandom(13);
        float[] qkv = random(random, images * tokens * 3 * g.width());
        float[] weights = random(random, images * heads * g.area()), before = weights.clone();
        float alpha = 0.7f;
        for (CublasGemm.EpilogueCall call : CublasGemm.headsWithEpilogue(g.part(Q), headDim, g.part(K), headDim,
                g.map(), g.area(), heads, tokens, tokens, headDim, images, 0, 1, alpha, 0, Epilogue.RELU, null)) {
            assertFalse(call.epilogue().hasMask(), "ReLU alone has no mask");
            run(call, qkv, qkv, weights, null);
        }
        checkEveryHead(g, weights, before, (b, h, i, j) -> Math.max(0f,
                alpha * dot(qkv, g.at(b, i, Q, h), 1, qkv, g.at(b, j, K, h), 1, headDim)));
    }

    private interface Expected {
        float at(int image, int head, int i, int j);
    }

    private static void checkEveryHead(Geometry g, float[] c, float[] before, Expected expected) {
        boolean[] written = new boolean[c.length];
        for (int b = 0; b < g.images(); b++) {
            for (int h = 0; h < g.heads(); h++) {
                for (int i = 0; i < g.tokens(); i++) {
                    for (int j = 0; j < g.tokens(); j++) {
                        int at = g.mapAt(b, h, i, j);
                        assertEquals(expected.at(b, h, i, j), c[at], 1e-5, "image " + b + ", head " + h + ", [" + i
                                + "," + j + "]");
                        written[at] = true;
                    }
                }
            }
        }
        for (int at = 0; at < c.length; at++) {
            if (!written[at]) assertEquals(before[at], c[at], 0f, "a value outside every head's map, at " + at);
        }
    }

    /**
     * cuBLASLt's strided batch with the call's epilogue, column-major, row-major A's values as the second operand:
     * RELU_AUX writes max(0, D) and a bit per element (at the call's mask offset, batch stride and leading dimension);
     * DRELU keeps D where that bit is set; RELU only writes max(0, D). The mask's bits here (null for RELU): null
     * never written, then whether D was positive.
     */
    private static void run(CublasGemm.EpilogueCall call, float[] aValues, float[] bValues, float[] c, Boolean[] mask) {
        ProductEpilogue e = call.epilogue();
        boolean transFirst = (call.operations() & 1) != 0, transSecond = (call.operations() & 2) != 0;
        int ldFirst = call.first().rowLength(), ldSecond = call.second().rowLength(), ldc = call.c().rowLength();
        long maskStart = (e.maskOffsetBytes() - ProductEpilogue.maskStartBytes()) * 8;
        if (e.hasMask()) {
            assertEquals(0, e.maskLd() % 128, "the mask's leading dimension is a multiple of 128 bits");
            assertTrue(e.maskLd() >= call.m(), "the mask's leading dimension holds a column of D");
        }
        for (int z = 0; z < call.batches(); z++) {
            long first = e.offsetA() + z * call.first().stride(), second = e.offsetB() + z * call.second().stride();
            long out = e.offsetC() + z * call.c().stride();
            for (int col = 0; col < call.n(); col++) {
                for (int row = 0; row < call.m(); row++) {
                    double sum = 0;
                    for (int l = 0; l < call.k(); l++) {
                        float x = bValues[(int) (first + (transFirst ? (long) row * ldFirst + l : (long) l * ldFirst + row))];
                        float y = aValues[(int) (second + (transSecond ? (long) l * ldSecond + col
                                : (long) col * ldSecond + l))];
                        sum += (double) x * y;
                    }
                    float d = (float) (call.alpha() * sum);
                    int at = (int) (out + (long) col * ldc + row);
                    if (e.epilogue() == Epilogue.RELU) {
                        c[at] = Math.max(0f, d);
                        continue;
                    }
                    long bit = maskStart + z * e.maskStride() + col * e.maskLd() + row;
                    assertTrue(bit >= 0 && bit < mask.length, "mask bit " + bit + " outside the mask tensor");
                    if (e.epilogue() == Epilogue.RELU_WITH_MASK) {
                        assertFalse(mask[(int) bit] != null, "two products write mask bit " + bit);
                        mask[(int) bit] = d > 0;
                        c[at] = Math.max(0f, d);
                    } else {
                        assertTrue(mask[(int) bit] != null, "the gradient reads mask bit " + bit + ", never written");
                        c[at] = mask[(int) bit] ? d : 0f;
                    }
                }
            }
        }
    }
}
