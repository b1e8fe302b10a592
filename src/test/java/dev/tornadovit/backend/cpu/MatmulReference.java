package dev.tornadovit.backend.cpu;

/**
 * Plain triple-loop versions of every {@link Matmul} method, same signatures and semantics: the
 * oracle the fast kernels are tested against. Sums are kept in double so that the reference is the
 * more accurate side of any comparison.
 */
public final class MatmulReference {

    private MatmulReference() {}

    public static void linearForward(float[] x, int xOff, float[] w, int wOff, float[] bias, int bOff,
                                     float[] y, int yOff, int M, int K, int N) {
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                double s = bias == null ? 0 : bias[bOff + j];
                for (int k = 0; k < K; k++) {
                    s += (double) x[xOff + i * K + k] * w[wOff + j * K + k];
                }
                y[yOff + i * N + j] = (float) s;
            }
        }
    }

    public static void linearBackwardInput(float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff,
                                           int M, int K, int N, boolean accumulate) {
        for (int i = 0; i < M; i++) {
            for (int k = 0; k < K; k++) {
                double s = accumulate ? dx[dxOff + i * K + k] : 0;
                for (int j = 0; j < N; j++) {
                    s += (double) dy[dyOff + i * N + j] * w[wOff + j * K + k];
                }
                dx[dxOff + i * K + k] = (float) s;
            }
        }
    }

    public static void linearBackwardWeight(float[] dy, int dyOff, float[] x, int xOff, float[] dw, int dwOff,
                                            float[] dbias, int dbOff, int M, int K, int N) {
        for (int j = 0; j < N; j++) {
            for (int k = 0; k < K; k++) {
                double s = dw[dwOff + j * K + k];
                for (int i = 0; i < M; i++) {
                    s += (double) dy[dyOff + i * N + j] * x[xOff + i * K + k];
                }
                dw[dwOff + j * K + k] = (float) s;
            }
            if (dbias != null) {
                double s = dbias[dbOff + j];
                for (int i = 0; i < M; i++) {
                    s += dy[dyOff + i * N + j];
                }
                dbias[dbOff + j] = (float) s;
            }
        }
    }

    public static void batchedNT(int batch,
                                 float[] a, int aOff, int aBatchStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batchedNT(batch, 1, a, aOff, aBatchStride, 0, lda, b, bOff, bBatchStride, 0, ldb,
                c, cOff, cBatchStride, 0, ldc, M, N, K, alpha, accumulate);
    }

    public static void batchedNN(int batch,
                                 float[] a, int aOff, int aBatchStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batchedNN(batch, 1, a, aOff, aBatchStride, 0, lda, b, bOff, bBatchStride, 0, ldb,
                c, cOff, cBatchStride, 0, ldc, M, N, K, alpha, accumulate);
    }

    public static void batchedTN(int batch,
                                 float[] a, int aOff, int aBatchStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        batchedTN(batch, 1, a, aOff, aBatchStride, 0, lda, b, bOff, bBatchStride, 0, ldb,
                c, cOff, cBatchStride, 0, ldc, M, N, K, alpha, accumulate);
    }

    public static void batchedNT(int batch, int heads,
                                 float[] a, int aOff, int aBatchStride, int aHeadStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int bHeadStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int cHeadStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        for (int bi = 0; bi < batch; bi++) {
            for (int h = 0; h < heads; h++) {
                int ao = aOff + bi * aBatchStride + h * aHeadStride;
                int bo = bOff + bi * bBatchStride + h * bHeadStride;
                int co = cOff + bi * cBatchStride + h * cHeadStride;
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < N; j++) {
                        double s = 0;
                        for (int k = 0; k < K; k++) {
                            s += (double) a[ao + i * lda + k] * b[bo + j * ldb + k];
                        }
                        store(c, co + i * ldc + j, alpha * s, accumulate);
                    }
                }
            }
        }
    }

    public static void batchedNN(int batch, int heads,
                                 float[] a, int aOff, int aBatchStride, int aHeadStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int bHeadStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int cHeadStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        for (int bi = 0; bi < batch; bi++) {
            for (int h = 0; h < heads; h++) {
                int ao = aOff + bi * aBatchStride + h * aHeadStride;
                int bo = bOff + bi * bBatchStride + h * bHeadStride;
                int co = cOff + bi * cBatchStride + h * cHeadStride;
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < N; j++) {
                        double s = 0;
                        for (int k = 0; k < K; k++) {
                            s += (double) a[ao + i * lda + k] * b[bo + k * ldb + j];
                        }
                        store(c, co + i * ldc + j, alpha * s, accumulate);
                    }
                }
            }
        }
    }

    public static void batchedTN(int batch, int heads,
                                 float[] a, int aOff, int aBatchStride, int aHeadStride, int lda,
                                 float[] b, int bOff, int bBatchStride, int bHeadStride, int ldb,
                                 float[] c, int cOff, int cBatchStride, int cHeadStride, int ldc,
                                 int M, int N, int K, float alpha, boolean accumulate) {
        for (int bi = 0; bi < batch; bi++) {
            for (int h = 0; h < heads; h++) {
                int ao = aOff + bi * aBatchStride + h * aHeadStride;
                int bo = bOff + bi * bBatchStride + h * bHeadStride;
                int co = cOff + bi * cBatchStride + h * cHeadStride;
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < N; j++) {
                        double s = 0;
                        for (int k = 0; k < K; k++) {
                            s += (double) a[ao + k * lda + i] * b[bo + k * ldb + j];
                        }
                        store(c, co + i * ldc + j, alpha * s, accumulate);
                    }
                }
            }
        }
    }

    private static void store(float[] c, int index, double value, boolean accumulate) {
        c[index] = (float) (accumulate ? c[index] + value : value);
    }
}
