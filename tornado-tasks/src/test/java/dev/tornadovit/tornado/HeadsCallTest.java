package dev.tornadovit.tornado;

import dev.tornadovit.tornado.cuda.CudaLibraryProvider;
import dev.tornadovit.tornado.cuda.HeadBatch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What one {@value CudaLibraryProvider#GEMM_HEADS} call over the images and heads computes, on any machine: the call
 * {@link CublasGemm#headsCall} makes of the attention core's six products (views into qkv [B,T,3,H,hd], the maps
 * [B,H,T,T] and merged [B,T,H·hd], as {@link HeadsInPlaceCore} takes them), carried out as cuBLAS's column-major
 * {@code cublasGemmBatchedEx} defines it on the matrices its pointer arrays name ({@link HeadBatch}), against each
 * image's and head's row-major product written out directly. On a CUDA device {@code HeadsInPlaceCoreTest} runs the
 * same products through cuBLAS against the CPU backend.
 */
class HeadsCallTest {
    static final int Q = 0, K = 1, V = 2;

    @ParameterizedTest(name = "batch {0}, {1} heads of {2}, {3} tokens")
    @CsvSource({"2, 3, 4, 5", "3, 2, 8, 7", "1, 1, 3, 4"})
    void theOneCallComputesEveryHeadsProduct(int images, int heads, int headDim, int tokens) {
        Geometry g = new Geometry(images, heads, headDim, tokens);
        SplittableRandom random = new SplittableRandom(7);
        float[] qkv = random(random, images * tokens * 3 * g.width), maps = random(random, images * heads * g.area);
        float[] merged = random(random, images * tokens * g.width);
        float alpha = 0.5f;
        // S = α·q·kᵀ (written)
        check(g, g.part(Q), headDim, g.part(K), headDim, g.map(), g.area, tokens, tokens, headDim, 0, 1, alpha, 0,
                qkv, qkv, maps.clone(), (b, h, i, j) -> alpha * dot(qkv, g.at(b, i, Q, h), 1, qkv, g.at(b, j, K, h),
                        1, headDim));
        // o = A·v (written)
        check(g, g.map(), g.area, g.part(V), headDim, g.head(), headDim, tokens, headDim, tokens, 0, 0, 1f, 0,
                maps, qkv, merged.clone(), (b, h, i, j) -> dot(maps, g.mapAt(b, h, i, 0), 1, qkv, g.at(b, 0, V, h) + j,
                        3 * g.width, tokens));
        // dA = dO·vᵀ, added into the map
        check(g, g.head(), headDim, g.part(V), headDim, g.map(), g.area, tokens, tokens, headDim, 0, 1, 1f, 1,
                merged, qkv, maps.clone(), (b, h, i, j) -> maps[g.mapAt(b, h, i, j)]
                        + dot(merged, g.headAt(b, i, h), 1, qkv, g.at(b, j, V, h), 1, headDim));
        // dv = Aᵀ·dO
        check(g, g.map(), g.area, g.head(), headDim, g.part(V), headDim, tokens, headDim, tokens, 1, 0, 1f, 0,
                maps, merged, qkv.clone(), (b, h, i, j) -> dot(maps, g.mapAt(b, h, 0, i), tokens, merged,
                        g.headAt(b, 0, h) + j, g.width, tokens));
        // dq = α·dS·k
        check(g, g.map(), g.area, g.part(K), headDim, g.part(Q), headDim, tokens, headDim, tokens, 0, 0, alpha, 0,
                maps, qkv, qkv.clone(), (b, h, i, j) -> alpha * dot(maps, g.mapAt(b, h, i, 0), 1, qkv,
                        g.at(b, 0, K, h) + j, 3 * g.width, tokens));
        // dk = α·dSᵀ·q
        check(g, g.map(), g.area, g.part(Q), headDim, g.part(K), headDim, tokens, headDim, tokens, 1, 0, alpha, 0,
                maps, qkv, qkv.clone(), (b, h, i, j) -> alpha * dot(maps, g.mapAt(b, h, 0, i), tokens, qkv,
                        g.at(b, 0, Q, h) + j, 3 * g.width, tokens));
    }

    /** Row-major C[b,h] (m×n, within C's view) as the direct product gives it at row i, column j. */
    private interface Expected {
        float at(int image, int head, int i, int j);
    }

    private static void check(Geometry g, CublasGemm.View a, long stepA, CublasGemm.View b, long stepB,
                              CublasGemm.View c, long stepC, int m, int n, int k, int transA, int transB, float alpha,
                              int accumulate, float[] aValues, float[] bValues, float[] cValues, Expected expected) {
        CublasGemm.HeadsCall call = CublasGemm.headsCall(a, stepA, b, stepB, c, stepC, g.heads, m, n, k, g.images,
                transA, transB, alpha, accumulate);
        float[] before = cValues.clone();
        // column-major: the call's first operand is B's values, its second A's
        batchedEx(call, bValues, aValues, cValues);
        boolean[] written = new boolean[cValues.length];
        for (int image = 0; image < g.images; image++) {
            for (int head = 0; head < g.heads; head++) {
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        int at = (int) (c.offset() + image * c.stride() + head * stepC + (long) i * c.rowLength() + j);
                        assertEquals(expected.at(image, head, i, j), cValues[at], 1e-4,
                                "image " + image + ", head " + head + ", C[" + i + "," + j + "]");
                        written[at] = true;
                    }
                }
            }
        }
        for (int at = 0; at < cValues.length; at++) {
            if (!written[at]) assertEquals(before[at], cValues[at], 0f, "a value outside every head's C, at " + at);
        }
    }

    /** cublasGemmBatchedEx's definition on the matrices a {@link HeadBatch}'s pointer arrays name (fp32). */
    private static void batchedEx(CublasGemm.HeadsCall call, float[] first, float[] second, float[] c) {
        HeadBatch batch = call.batch();
        boolean transA = (call.operations() & 1) != 0, transB = (call.operations() & 2) != 0;
        int lda = call.first().rowLength(), ldb = call.second().rowLength(), ldc = call.c().rowLength();
        for (int z = 0; z < batch.count(); z++) {
            long a0 = call.first().offset() + offset(z, batch.heads(), batch.imageStrideA(), batch.headStepA());
            long b0 = call.second().offset() + offset(z, batch.heads(), batch.imageStrideB(), batch.headStepB());
            long c0 = call.c().offset() + offset(z, batch.heads(), batch.imageStrideC(), batch.headStepC());
            for (int col = 0; col < call.n(); col++) {
                for (int row = 0; row < call.m(); row++) {
                    double sum = 0;
                    for (int l = 0; l < call.k(); l++) {
                        float opA = first[(int) (a0 + (transA ? (long) row * lda + l : (long) l * lda + row))];
                        float opB = second[(int) (b0 + (transB ? (long) l * ldb + col : (long) col * ldb + l))];
                        sum += (double) opA * opB;
                    }
                    int at = (int) (c0 + (long) col * ldc + row);
                    c[at] = (float) (call.alpha() * sum + call.beta() * c[at]);
                }
            }
        }
    }

    /** Matrix z of a two-level batch, image-major. */
    private static long offset(int z, int heads, long imageStride, long headStep) {
        return (z / heads) * imageStride + (z % heads) * headStep;
    }

    static float dot(float[] x, int x0, int xStep, float[] y, int y0, int yStep, int count) {
        double sum = 0;
        for (int l = 0; l < count; l++) sum += (double) x[x0 + l * xStep] * y[y0 + l * yStep];
        return (float) sum;
    }

    static float[] random(SplittableRandom random, int size) {
        float[] values = new float[size];
        for (int i = 0; i < size; i++) values[i] = (float) (random.nextDouble() * 2 - 1);
        return values;
    }

    /** The attention core's layouts, as {@link HeadsInPlaceCore} views them (no tensors: geometry only). */
    record Geometry(int images, int heads, int headDim, int tokens, int width, int area) {
        Geometry(int images, int heads, int headDim, int tokens) {
            this(images, heads, headDim, tokens, heads * headDim, tokens * tokens);
        }

        CublasGemm.View part(int which) {
            return new CublasGemm.View(null, (long) which * width, 3 * width, (long) tokens * 3 * width);
        }

        CublasGemm.View head() {
            return new CublasGemm.View(null, 0, width, (long) tokens * width);
        }

        CublasGemm.View map() {
            return new CublasGemm.View(null, 0, tokens, (long) heads * area);
        }

        /** Image b's token t: head h's q (0), k (1) or v (2) in qkv. */
        int at(int b, int t, int which, int h) {
            return (b * tokens + t) * 3 * width + which * width + h * headDim;
        }

        int headAt(int b, int t, int h) {
            return (b * tokens + t) * width + h * headDim;
        }

        int mapAt(int b, int h, int i, int j) {
            return (b * heads + h) * area + i * tokens + j;
        }
    }
}
