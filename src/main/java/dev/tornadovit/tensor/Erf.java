package dev.tornadovit.tensor;

/**
 * The error function, which Java's Math lacks. Exact-erf GELU (PyTorch's default) needs it: the tanh
 * approximation would differ from the reference by ~1e-3 and fail the fixture comparison.
 */
public final class Erf {
    private Erf() {
    }

    /** erf(x) to full double precision: a Taylor series near 0, a continued fraction for erfc in the tails. */
    public static double erf(double x) {
        double ax = Math.abs(x);
        if (ax < 2.5) {
            // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); converges fast for |x| < 2.5
            double x2 = x * x, term = x, sum = x;
            for (int n = 1; n < 80; n++) {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
            }
            return 1.1283791670955125739 * sum;
        }
        double r = erfcContinuedFraction(ax);
        return x > 0 ? 1 - r : r - 1;
    }

    /** erfc(x) for x >= 2.5 by Lentz's evaluation of the continued fraction. */
    private static double erfcContinuedFraction(double x) {
        if (x > 27) return 0;
        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
        double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int n = 1; n < 200; n++) {
            double a = n * 0.5;
            d = x + a * d;
            if (d == 0) d = tiny;
            c = x + a / c;
            if (c == 0) c = tiny;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.abs(delta - 1) < 1e-16) break;
        }
        return Math.exp(-x * x) / (f * 1.7724538509055160273);
    }

    /**
     * erf for the float kernels: the Chebyshev-fitted erfc of Numerical Recipes (fractional error below 1.2e-7,
     * float's own resolution) — one exp instead of the series' tens of terms.
     */
    public static float erfFast(float x) {
        double z = Math.abs(x);
        double t = 1 / (1 + 0.5 * z);
        double erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return (float) (x >= 0 ? 1 - erfc : erfc - 1);
    }
}
