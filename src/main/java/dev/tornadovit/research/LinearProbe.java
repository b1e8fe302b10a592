package dev.tornadovit.research;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A closed-form linear probe on frozen features, as big_vision's few-shot evaluator (evaluators/fewshot_lsr.py):
 * features standardised with the training set's per-dimension mean and std, a constant feature of
 * {@value #BIAS_FEATURE} appended (so the bias is a weight like any other but, being large, is barely touched by
 * the penalty), targets one-hot in {−1, +1}, and L2-regularised least squares solved exactly:
 * <pre>
 *   W = (XᵀX + λI)⁻¹ XᵀY      when n ≥ D + 1   (a (D+1)×(D+1) system)
 *   W = Xᵀ (XXᵀ + λI)⁻¹ Y      when n < D + 1   (an n×n system: the same W, cheaper for few shots)
 * </pre>
 * Both systems are symmetric positive definite for λ > 0 and are solved with {@link Cholesky}. The prediction is
 * the arg-max over classes of x·W.
 */
public final class LinearProbe {
    /** big_vision's BIAS_CONSTANT. */
    public static final double BIAS_FEATURE = 100;
    /** Added to each feature's standard deviation so that a constant feature does not divide by zero (big_vision's). */
    static final double STD_EPS = 1e-5;

    private final int dim, classes;
    private final double[] mean, std, weights;

    private LinearProbe(int dim, int classes, double[] mean, double[] std, double[] weights) {
        this.dim = dim;
        this.classes = classes;
        this.mean = mean;
        this.std = std;
        this.weights = weights;
    }

    /**
     * Fits a probe.
     *
     * @param features n×dim, row-major
     * @param labels   n class indices in [0, classes)
     * @param l2       the regulariser λ > 0
     */
    public static LinearProbe fit(double[] features, int[] labels, int dim, int classes, double l2) {
        return Prepared.of(features, labels, dim, classes, null).fit(l2);
    }

    /** As {@link #fit}, choosing the (D+1)×(D+1) system ({@code primal}) or the n×n one; for tests of their equality. */
    static LinearProbe fit(double[] features, int[] labels, int dim, int classes, double l2, boolean primal) {
        return Prepared.of(features, labels, dim, classes, primal).fit(l2);
    }

    /** x·W for each row: the scores whose arg-max is the prediction, n×classes. */
    double[] scores(double[] features) {
        int n = rows(features, dim, "features");
        double[] out = new double[n * classes];
        double[] row = new double[dim + 1];
        for (int r = 0; r < n; r++) {
            standardise(features, r, row);
            for (int c = 0; c < classes; c++) {
                double s = 0;
                for (int k = 0; k <= dim; k++) s += row[k] * weights[k * classes + c];
                out[r * classes + c] = s;
            }
        }
        return out;
    }

    public int dim() {
        return dim;
    }

    /** Predicted classes of n×dim features. */
    public int[] predict(double[] features) {
        double[] scores = scores(features);
        int[] out = new int[scores.length / classes];
        for (int r = 0; r < out.length; r++) {
            int best = 0;
            for (int c = 1; c < classes; c++) if (scores[r * classes + c] > scores[r * classes + best]) best = c;
            out[r] = best;
        }
        return out;
    }

    /** Share of rows predicted as their label. */
    public double accuracy(double[] features, int[] labels) {
        int[] predicted = predict(features);
        if (predicted.length != labels.length) {
            throw new IllegalArgumentException(predicted.length + " feature rows but " + labels.length + " labels");
        }
        if (predicted.length == 0) return Double.NaN;
        int correct = 0;
        for (int i = 0; i < predicted.length; i++) if (predicted[i] == labels[i]) correct++;
        return (double) correct / predicted.length;
    }

    private void standardise(double[] features, int r, double[] row) {
        for (int k = 0; k < dim; k++) row[k] = (features[r * dim + k] - mean[k]) / std[k];
        row[dim] = BIAS_FEATURE;
    }

    /** 2^minExp, 2^(minExp+1), …, 2^maxExp. */
    public static double[] l2Grid(int minExp, int maxExp) {
        if (minExp > maxExp) throw new IllegalArgumentException("l2 grid: min exponent " + minExp + " > max exponent " + maxExp);
        double[] grid = new double[maxExp - minExp + 1];
        for (int i = 0; i < grid.length; i++) grid[i] = Math.scalb(1.0, minExp + i);
        return grid;
    }

    /**
     * The λ of {@code grid} with the best accuracy on the held-out set; ties go to the larger λ (the smoother
     * fit). {@code validationAccuracy[i]} belongs to {@code grid[i]}.
     */
    public record Selection(double l2, double[] grid, double[] validationAccuracy) {
    }

    public static Selection selectL2(double[] trainFeatures, int[] trainLabels, double[] validationFeatures,
                                     int[] validationLabels, int dim, int classes, double[] grid) {
        if (grid.length == 0) throw new IllegalArgumentException("the l2 grid is empty");
        Prepared prepared = Prepared.of(trainFeatures, trainLabels, dim, classes, null);
        double[] accuracy = new double[grid.length];
        int best = 0;
        for (int i = 0; i < grid.length; i++) {
            accuracy[i] = prepared.fit(grid[i]).accuracy(validationFeatures, validationLabels);
            if (accuracy[i] >= accuracy[best]) best = i;
        }
        return new Selection(grid[best], grid.clone(), accuracy);
    }

    /** Image indices for one few-shot draw: the shots to fit on and a disjoint held-out set to choose λ on. */
    public record Draw(int[] shots, int[] validation) {
    }

    /**
     * Draws {@code shots} and then {@code validationPerClass} further examples of every class from a pool with
     * the given labels, seeded ({@link Random}'s algorithm is fixed by its specification, so draws are stable).
     *
     * @throws IllegalArgumentException naming the class when it has too few examples
     */
    public static Draw draw(int[] poolLabels, int classes, int shots, int validationPerClass, long seed) {
        if (shots < 1) throw new IllegalArgumentException("shots per class must be >= 1, got " + shots);
        if (validationPerClass < 1) throw new IllegalArgumentException("validation examples per class must be >= 1, got " + validationPerClass);
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < classes; c++) byClass.add(new ArrayList<>());
        for (int i = 0; i < poolLabels.length; i++) {
            int c = poolLabels[i];
            if (c < 0 || c >= classes) throw new IllegalArgumentException("label " + c + " of example " + i + " is outside 0.." + (classes - 1));
            byClass.get(c).add(i);
        }
        Random random = new Random(seed);
        int[] shotIndices = new int[shots * classes], validationIndices = new int[validationPerClass * classes];
        for (int c = 0; c < classes; c++) {
            List<Integer> members = byClass.get(c);
            if (members.size() < shots + validationPerClass) {
                throw new IllegalArgumentException("class " + c + " has " + members.size() + " examples, fewer than "
                        + shots + " shots + " + validationPerClass + " held-out; lower --shots or --validation-per-class");
            }
            // A partial Fisher–Yates shuffle: only the first shots + validation places are needed.
            int[] order = members.stream().mapToInt(Integer::intValue).toArray();
            for (int k = 0; k < shots + validationPerClass; k++) {
                int j = k + random.nextInt(order.length - k);
                int t = order[k];
                order[k] = order[j];
                order[j] = t;
            }
            System.arraycopy(order, 0, shotIndices, c * shots, shots);
            System.arraycopy(order, shots, validationIndices, c * validationPerClass, validationPerClass);
        }
        return new Draw(shotIndices, validationIndices);
    }

    /** The rows of {@code features} (n×dim) at {@code indices}, in that order. */
    public static double[] rowsAt(double[] features, int dim, int[] indices) {
        double[] out = new double[indices.length * dim];
        for (int i = 0; i < indices.length; i++) System.arraycopy(features, indices[i] * dim, out, i * dim, dim);
        return out;
    }

    public static int[] labelsAt(int[] labels, int[] indices) {
        return Arrays.stream(indices).map(i -> labels[i]).toArray();
    }

    /** Mean and sample standard deviation (n − 1; 0 for one value). */
    public record Spread(double mean, double std, int count) {
        public static Spread of(double[] values) {
            double mean = Arrays.stream(values).average().orElse(Double.NaN);
            double ss = 0;
            for (double v : values) ss += (v - mean) * (v - mean);
            return new Spread(mean, values.length > 1 ? Math.sqrt(ss / (values.length - 1)) : 0, values.length);
        }
    }

    private static int rows(double[] features, int dim, String what) {
        if (dim < 1 || features.length % dim != 0) {
            throw new IllegalArgumentException(what + " hold " + features.length + " values, not a whole number of rows of " + dim);
        }
        return features.length / dim;
    }

    /**
     * The standardised, bias-augmented training data and its Gram matrix, computed once so that every λ of a grid
     * costs only a factorisation and a solve.
     */
    private static final class Prepared {
        final int n, dim, classes, width;
        final double[] mean, std, x, y, gram;
        final boolean primal;

        private Prepared(int n, int dim, int classes, double[] mean, double[] std, double[] x, double[] y, Boolean primal) {
            this.n = n;
            this.dim = dim;
            this.classes = classes;
            this.mean = mean;
            this.std = std;
            this.x = x;
            this.y = y;
            this.width = dim + 1;
            this.primal = primal != null ? primal : n >= width;
            this.gram = this.primal ? transposeTimesSelf() : selfTimesTranspose();
        }

        /** @param primal which system to solve; null: the smaller one */
        static Prepared of(double[] features, int[] labels, int dim, int classes, Boolean primal) {
            int n = rows(features, dim, "features");
            if (labels.length != n) throw new IllegalArgumentException(n + " feature rows but " + labels.length + " labels");
            if (n == 0) throw new IllegalArgumentException("no training examples for the probe");
            if (classes < 2) throw new IllegalArgumentException("a probe needs at least 2 classes, got " + classes);
            double[] mean = new double[dim], std = new double[dim];
            for (int r = 0; r < n; r++) for (int k = 0; k < dim; k++) mean[k] += features[r * dim + k];
            for (int k = 0; k < dim; k++) mean[k] /= n;
            for (int r = 0; r < n; r++) {
                for (int k = 0; k < dim; k++) {
                    double d = features[r * dim + k] - mean[k];
                    std[k] += d * d;
                }
            }
            for (int k = 0; k < dim; k++) std[k] = Math.sqrt(std[k] / n) + STD_EPS;
            int width = dim + 1;
            double[] x = new double[n * width], y = new double[n * classes];
            for (int r = 0; r < n; r++) {
                for (int k = 0; k < dim; k++) x[r * width + k] = (features[r * dim + k] - mean[k]) / std[k];
                x[r * width + dim] = BIAS_FEATURE;
                int label = labels[r];
                if (label < 0 || label >= classes) {
                    throw new IllegalArgumentException("label " + label + " of example " + r + " is outside 0.." + (classes - 1));
                }
                for (int c = 0; c < classes; c++) y[r * classes + c] = c == label ? 1 : -1;
            }
            return new Prepared(n, dim, classes, mean, std, x, y, primal);
        }

        /** XᵀX, (D+1)×(D+1). */
        private double[] transposeTimesSelf() {
            double[] g = new double[width * width];
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < width; i++) {
                    double xi = x[r * width + i];
                    if (xi == 0) continue;
                    for (int j = 0; j <= i; j++) g[i * width + j] += xi * x[r * width + j];
                }
            }
            mirrorLower(g, width);
            return g;
        }

        /** XXᵀ, n×n. */
        private double[] selfTimesTranspose() {
            double[] g = new double[n * n];
            for (int a = 0; a < n; a++) {
                for (int b = 0; b <= a; b++) {
                    double s = 0;
                    for (int k = 0; k < width; k++) s += x[a * width + k] * x[b * width + k];
                    g[a * n + b] = s;
                }
            }
            mirrorLower(g, n);
            return g;
        }

        private static void mirrorLower(double[] g, int size) {
            for (int i = 0; i < size; i++) for (int j = i + 1; j < size; j++) g[i * size + j] = g[j * size + i];
        }

        LinearProbe fit(double l2) {
            if (!(l2 > 0) || Double.isInfinite(l2)) throw new IllegalArgumentException("l2 must be a finite number > 0, got " + l2);
            int size = primal ? width : n;
            double[] regularised = gram.clone();
            for (int i = 0; i < size; i++) regularised[i * size + i] += l2;
            Cholesky chol = Cholesky.factor(regularised, size);
            double[] w;
            if (primal) {
                double[] xty = new double[width * classes];
                for (int r = 0; r < n; r++) {
                    for (int k = 0; k < width; k++) {
                        double xk = x[r * width + k];
                        for (int c = 0; c < classes; c++) xty[k * classes + c] += xk * y[r * classes + c];
                    }
                }
                w = chol.solve(xty, classes);
            } else {
                double[] dual = chol.solve(y, classes);
                w = new double[width * classes];
                for (int r = 0; r < n; r++) {
                    for (int k = 0; k < width; k++) {
                        double xk = x[r * width + k];
                        for (int c = 0; c < classes; c++) w[k * classes + c] += xk * dual[r * classes + c];
                    }
                }
            }
            return new LinearProbe(dim, classes, mean, std, w);
        }
    }
}
