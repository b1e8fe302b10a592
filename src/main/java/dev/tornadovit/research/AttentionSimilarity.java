package dev.tornadovit.research;

import java.util.Arrays;

/**
 * DeepViT's attention-collapse measurements (Zhou et al. 2021, arXiv 2103.11886), accumulated batch by batch.
 *
 * <p><b>Cross-layer similarity.</b> For blocks p and q, head h and token t,
 * {@code M^{p,q}_{h,t} = cos(A^p_{h,:,t}, A^q_{h,:,t})}: the cosine between column t of the two maps (how much every
 * query attends to key t), averaged over heads, tokens and images. A column that is all zeros (possible with
 * ReLU-type attention: no query attends to that key) has no direction; pairs involving one are left out of the
 * average rather than counted as 0 or 1, and {@link Result#undefinedFraction} says how many were left out.
 *
 * <p><b>Within-layer similarity.</b> Mean cosine between two different heads' whole T×T maps of the same block,
 * over all head pairs and images: high values mean the heads are redundant, which Re-attention's mixing targets.
 *
 * <p><b>Feature similarity.</b> Cosine between block p's output token and the last block's output token, per
 * image and token, averaged: how much later blocks still change the representation.
 *
 * <p><b>Centred variant.</b> With {@code centred}, every column (and every head's map) has its mean subtracted
 * before the cosine, i.e. the Pearson correlation. The plain cosine of non-negative maps is high even for unrelated
 * ones (two uniform maps give exactly 1, so near-uniform softmax maps of a short-trained model sit near 1), while
 * BatchNorm Re-attention's maps are centred by construction and so have cosines near 0: the plain metric compares
 * neither fairly with the other. The centred one measures whether the maps vary together. Feature similarity is
 * always the plain cosine.
 *
 * <p>Maps are [B,H,T,T] row-major (query i, key j: {@code A[b][h][i][j]}), outputs [B,T,D], both as the model
 * hands them over. Sums are kept in double; the float inputs are read as they are.
 */
public final class AttentionSimilarity {
    private final int depth, heads, tokens, width;
    private final boolean centred;
    private final double[][] crossSum;
    private final long[][] crossCount, crossUndefined;
    private final double[] headSum, featureSum;
    private final long[] headCount, featureCount;
    private long images;

    /** DeepViT's plain cosine. */
    public AttentionSimilarity(int depth, int heads, int tokens, int width) {
        this(depth, heads, tokens, width, false);
    }

    /**
     * @param width    the token width D of block outputs (for the feature similarity)
     * @param centred  subtract each column's (and head map's) mean first: Pearson correlation instead of cosine
     */
    public AttentionSimilarity(int depth, int heads, int tokens, int width, boolean centred) {
        if (depth < 1 || heads < 1 || tokens < 1 || width < 1) {
            throw new IllegalArgumentException("depth, heads, tokens and width must be positive, got " + depth + ", "
                    + heads + ", " + tokens + ", " + width);
        }
        this.depth = depth;
        this.heads = heads;
        this.tokens = tokens;
        this.width = width;
        this.centred = centred;
        crossSum = new double[depth][depth];
        crossCount = new long[depth][depth];
        crossUndefined = new long[depth][depth];
        headSum = new double[depth];
        headCount = new long[depth];
        featureSum = new double[depth];
        featureCount = new long[depth];
    }

    /**
     * Adds one batch.
     *
     * @param maps    per block, its attention map; at least {@code batch·H·T·T} values (longer arrays are fine:
     *                the model's buffers are sized for its largest batch)
     * @param outputs per block, its output tokens, at least {@code batch·T·D} values; null to skip the feature part
     */
    public void add(float[][] maps, float[][] outputs, int batch) {
        if (maps.length != depth) throw new IllegalArgumentException("expected maps of " + depth + " blocks, got " + maps.length);
        int mapSize = heads * tokens * tokens;
        for (int p = 0; p < depth; p++) {
            if (maps[p].length < (long) batch * mapSize) {
                throw new IllegalArgumentException("block " + p + "'s map has " + maps[p].length + " values, expected at least "
                        + batch + "·" + heads + "·" + tokens + "·" + tokens + " = " + (long) batch * mapSize);
            }
        }
        // Unit-length columns per block, so that each pair of blocks costs one dot product per column.
        double[][] unitColumns = new double[depth][];
        boolean[][] defined = new boolean[depth][];
        for (int p = 0; p < depth; p++) {
            unitColumns[p] = new double[batch * mapSize];
            defined[p] = new boolean[batch * heads * tokens];
            normaliseColumns(maps[p], batch, unitColumns[p], defined[p]);
        }
        for (int p = 0; p < depth; p++) {
            for (int q = p; q < depth; q++) {
                double sum = 0;
                long count = 0, undefined = 0;
                for (int column = 0; column < defined[p].length; column++) {
                    if (!defined[p][column] || !defined[q][column]) {
                        undefined++;
                        continue;
                    }
                    sum += columnDot(unitColumns[p], unitColumns[q], column);
                    count++;
                }
                crossSum[p][q] += sum;
                crossCount[p][q] += count;
                crossUndefined[p][q] += undefined;
            }
            addHeadSimilarity(p, maps[p], batch);
        }
        if (outputs != null) addFeatureSimilarity(outputs, batch);
        images += batch;
    }

    /** Column index c = (b·H + h)·T + j; its values sit at rows i of that (b, h) map. */
    private void normaliseColumns(float[] map, int batch, double[] unit, boolean[] defined) {
        int t = tokens;
        for (int bh = 0; bh < batch * heads; bh++) {
            int base = bh * t * t;
            for (int j = 0; j < t; j++) {
                double mean = 0;
                if (centred) {
                    for (int i = 0; i < t; i++) mean += map[base + i * t + j];
                    mean /= t;
                }
                double norm = 0;
                for (int i = 0; i < t; i++) {
                    double a = map[base + i * t + j] - mean;
                    norm += a * a;
                }
                norm = Math.sqrt(norm);
                // A zero (or, centred, constant) column has no direction. The relative floor catches a constant
                // column whose centred values are rounding noise.
                boolean ok = norm > 1e-12 * (Math.abs(mean) * Math.sqrt(t) + norm) && Double.isFinite(norm);
                defined[bh * t + j] = ok;
                if (!ok) continue;
                for (int i = 0; i < t; i++) unit[base + i * t + j] = (map[base + i * t + j] - mean) / norm;
            }
        }
    }

    private double columnDot(double[] a, double[] b, int column) {
        int t = tokens, bh = column / t, j = column % t, base = bh * t * t;
        double dot = 0;
        for (int i = 0; i < t; i++) dot += a[base + i * t + j] * b[base + i * t + j];
        return dot;
    }

    private void addHeadSimilarity(int block, float[] map, int batch) {
        if (heads < 2) return;
        int size = tokens * tokens;
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int g = h + 1; g < heads; g++) {
                    double c = centred ? correlation(map, (b * heads + h) * size, map, (b * heads + g) * size, size)
                            : cosine(map, (b * heads + h) * size, map, (b * heads + g) * size, size);
                    if (Double.isNaN(c)) continue;
                    headSum[block] += c;
                    headCount[block]++;
                }
            }
        }
    }

    private void addFeatureSimilarity(float[][] outputs, int batch) {
        if (outputs.length != depth) throw new IllegalArgumentException("expected outputs of " + depth + " blocks, got " + outputs.length);
        float[] last = outputs[depth - 1];
        for (int p = 0; p < depth; p++) {
            if (outputs[p].length < (long) batch * tokens * width) {
                throw new IllegalArgumentException("block " + p + "'s output has " + outputs[p].length + " values, expected at least "
                        + batch + "·" + tokens + "·" + width);
            }
            for (int row = 0; row < batch * tokens; row++) {
                double c = cosine(outputs[p], row * width, last, row * width, width);
                if (Double.isNaN(c)) continue;
                featureSum[p] += c;
                featureCount[p]++;
            }
        }
    }

    /** Cosine of two float ranges, or NaN when either has zero length. */
    static double cosine(float[] a, int aFrom, float[] b, int bFrom, int n) {
        double dot = 0, na = 0, nb = 0;
        for (int k = 0; k < n; k++) {
            double x = a[aFrom + k], y = b[bFrom + k];
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        if (!(na > 0) || !(nb > 0)) return Double.NaN;
        return dot / Math.sqrt(na * nb);
    }

    /** Pearson correlation of two float ranges, or NaN when either is constant. */
    static double correlation(float[] a, int aFrom, float[] b, int bFrom, int n) {
        double ma = 0, mb = 0;
        for (int k = 0; k < n; k++) {
            ma += a[aFrom + k];
            mb += b[bFrom + k];
        }
        ma /= n;
        mb /= n;
        double dot = 0, na = 0, nb = 0;
        for (int k = 0; k < n; k++) {
            double x = a[aFrom + k] - ma, y = b[bFrom + k] - mb;
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        if (!(na > 1e-24 * (ma * ma * n + na)) || !(nb > 1e-24 * (mb * mb * n + nb))) return Double.NaN;
        return dot / Math.sqrt(na * nb);
    }

    public boolean centred() {
        return centred;
    }

    public long images() {
        return images;
    }

    /** The averages so far. */
    public Result result() {
        double[][] cross = new double[depth][depth];
        double[][] undefinedFraction = new double[depth][depth];
        for (int p = 0; p < depth; p++) {
            for (int q = p; q < depth; q++) {
                long all = crossCount[p][q] + crossUndefined[p][q];
                cross[p][q] = cross[q][p] = crossCount[p][q] == 0 ? Double.NaN : crossSum[p][q] / crossCount[p][q];
                undefinedFraction[p][q] = undefinedFraction[q][p] = all == 0 ? Double.NaN : (double) crossUndefined[p][q] / all;
            }
        }
        double[] headSimilarity = new double[depth], featureSimilarity = new double[depth];
        for (int p = 0; p < depth; p++) {
            headSimilarity[p] = headCount[p] == 0 ? Double.NaN : headSum[p] / headCount[p];
            featureSimilarity[p] = featureCount[p] == 0 ? Double.NaN : featureSum[p] / featureCount[p];
        }
        return new Result(cross, undefinedFraction, headSimilarity, featureSimilarity, images);
    }

    /**
     * @param crossLayer        [p][q]: mean cosine of blocks p's and q's attention-map columns (symmetric, 1 on the
     *                          diagonal unless every column of p is zero)
     * @param undefinedFraction [p][q]: share of (image, head, token) columns left out because one was all zeros
     * @param withinLayer       per block, mean cosine between different heads' maps (NaN with one head)
     * @param featureToLast     per block, mean cosine of its output tokens to the last block's (NaN if not measured)
     */
    public record Result(double[][] crossLayer, double[][] undefinedFraction, double[] withinLayer, double[] featureToLast,
                         long images) {

        public int depth() {
            return crossLayer.length;
        }

        /** Similarity of block p to block p + offset (NaN past the last block). */
        public double toNext(int p, int offset) {
            int q = p + offset;
            return q < depth() ? crossLayer[p][q] : Double.NaN;
        }

        /**
         * DeepViT's "similar blocks": blocks whose map is more similar than {@code threshold} to the preceding
         * block's. With this reading, collapse from block k of K onwards gives K − k similar blocks, as the paper's
         * ViT-32 (collapse after ~block 17, 15 similar blocks).
         */
        public int similarBlocks(double threshold) {
            int n = 0;
            for (int p = 1; p < depth(); p++) if (crossLayer[p - 1][p] > threshold) n++;
            return n;
        }

        /** The blocks (0-based) counted by {@link #similarBlocks}. */
        public int[] similarBlockIndices(double threshold) {
            return java.util.stream.IntStream.range(1, depth()).filter(p -> crossLayer[p - 1][p] > threshold).toArray();
        }

        /** Mean similarity of adjacent blocks, over the depth − 1 pairs (NaN for one block). */
        public double meanAdjacent() {
            return Arrays.stream(java.util.stream.IntStream.range(1, depth()).mapToDouble(p -> crossLayer[p - 1][p]).toArray())
                    .average().orElse(Double.NaN);
        }

        public double meanWithinLayer() {
            return Arrays.stream(withinLayer).filter(v -> !Double.isNaN(v)).average().orElse(Double.NaN);
        }
    }
}
