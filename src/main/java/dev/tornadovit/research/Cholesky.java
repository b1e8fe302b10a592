package dev.tornadovit.research;

/**
 * Cholesky factorisation A = L·Lᵀ of a symmetric positive-definite matrix and the solve of A·X = B, in double.
 * Matrices are row-major flat arrays; the sizes here (a few hundred) need nothing cleverer.
 */
public final class Cholesky {
    private final int n;
    private final double[] lower;

    private Cholesky(int n, double[] lower) {
        this.n = n;
        this.lower = lower;
    }

    /**
     * Factors the n×n matrix {@code a} (only its lower triangle is read; {@code a} is not changed).
     *
     * @throws IllegalArgumentException when a pivot is not positive: the matrix is not positive definite
     */
    public static Cholesky factor(double[] a, int n) {
        if (a.length != (long) n * n) {
            throw new IllegalArgumentException("expected an " + n + "×" + n + " matrix (" + (long) n * n + " values), got " + a.length);
        }
        double[] l = new double[n * n];
        for (int j = 0; j < n; j++) {
            double diagonal = a[j * n + j];
            for (int k = 0; k < j; k++) diagonal -= l[j * n + k] * l[j * n + k];
            if (!(diagonal > 0)) {
                throw new IllegalArgumentException("matrix is not positive definite: pivot " + j + " is " + diagonal);
            }
            double ljj = Math.sqrt(diagonal);
            l[j * n + j] = ljj;
            for (int i = j + 1; i < n; i++) {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = s / ljj;
            }
        }
        return new Cholesky(n, l);
    }

    public int size() {
        return n;
    }

    /** Solves A·X = B for an n×m right-hand side {@code b} (row-major); returns X, n×m. */
    public double[] solve(double[] b, int m) {
        if (b.length != (long) n * m) {
            throw new IllegalArgumentException("right-hand side should be " + n + "×" + m + " (" + (long) n * m + " values), got " + b.length);
        }
        double[] x = b.clone();
        // Forward substitution L·Y = B, then back substitution Lᵀ·X = Y, all columns at once.
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < i; k++) {
                double lik = lower[i * n + k];
                if (lik == 0) continue;
                for (int c = 0; c < m; c++) x[i * m + c] -= lik * x[k * m + c];
            }
            double lii = lower[i * n + i];
            for (int c = 0; c < m; c++) x[i * m + c] /= lii;
        }
        for (int i = n - 1; i >= 0; i--) {
            for (int k = i + 1; k < n; k++) {
                double lki = lower[k * n + i];
                if (lki == 0) continue;
                for (int c = 0; c < m; c++) x[i * m + c] -= lki * x[k * m + c];
            }
            double lii = lower[i * n + i];
            for (int c = 0; c < m; c++) x[i * m + c] /= lii;
        }
        return x;
    }
}
