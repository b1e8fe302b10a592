package dev.tornadovit.research;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LinearProbeTest {

    @Test
    void choleskySolvesASymmetricPositiveDefiniteSystem() {
        Random r = new Random(3);
        int n = 12, m = 3;
        double[] factor = new double[n * n];
        for (int i = 0; i < factor.length; i++) factor[i] = r.nextGaussian();
        double[] a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = i == j ? 0.5 : 0;
                for (int k = 0; k < n; k++) s += factor[k * n + i] * factor[k * n + j];
                a[i * n + j] = s;
            }
        double[] b = new double[n * m];
        for (int i = 0; i < b.length; i++) b[i] = r.nextGaussian();
        double[] x = Cholesky.factor(a, n).solve(b, m);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < m; c++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += a[i * n + k] * x[k * m + c];
                assertEquals(b[i * m + c], s, 1e-9);
            }
        // The 2×2 case by hand: [[4,2],[2,3]] x = [2,1] → x = [0.5, 0].
        assertArrayEquals(new double[]{0.5, 0}, Cholesky.factor(new double[]{4, 2, 2, 3}, 2).solve(new double[]{2, 1}, 1), 1e-15);
    }

    @Test
    void choleskyRejectsAnIndefiniteMatrix() {
        var e = assertThrows(IllegalArgumentException.class, () -> Cholesky.factor(new double[]{1, 2, 2, 1}, 2));
        assertTrue(e.getMessage().contains("not positive definite"), e.getMessage());
    }

    /**
     * Class c's features: its own random centre (norm ~3√dim) plus noise. With dim ≥ classes the centres are
     * linearly independent, so the ±1 one-hot targets are an exact linear function of them: least squares separates.
     */
    static double[] separable(Random r, int[] labels, int dim, double noise) {
        Random centres = new Random(dim);
        double[][] centre = new double[10][dim];
        for (double[] c : centre) for (int k = 0; k < dim; k++) c[k] = 3 * centres.nextGaussian();
        double[] x = new double[labels.length * dim];
        for (int i = 0; i < labels.length; i++)
            for (int k = 0; k < dim; k++) x[i * dim + k] = centre[labels[i]][k] + 10 + noise * r.nextGaussian();
        return x;
    }

    static int[] balanced(int perClass, int classes) {
        int[] y = new int[perClass * classes];
        for (int i = 0; i < y.length; i++) y[i] = i % classes;
        return y;
    }

    @Test
    void separableFeaturesAreClassifiedPerfectly() {
        Random r = new Random(11);
        int classes = 10, dim = 16;
        int[] yTrain = balanced(10, classes), yTest = balanced(50, classes);
        double[] xTrain = separable(r, yTrain, dim, 0.3), xTest = separable(r, yTest, dim, 0.3);
        // n = 100 ≥ D + 1 = 17: the primal system.
        LinearProbe probe = LinearProbe.fit(xTrain, yTrain, dim, classes, 1.0);
        assertEquals(1.0, probe.accuracy(xTest, yTest));
        // Few shots in many dimensions (n = 20 < 65): the dual system.
        int wide = 64;
        int[] fewLabels = balanced(2, classes);
        LinearProbe dual = LinearProbe.fit(separable(r, fewLabels, wide, 0.3), fewLabels, wide, classes, 1.0);
        assertEquals(1.0, dual.accuracy(separable(r, yTest, wide, 0.3), yTest));
    }

    @Test
    void randomLabelsGiveChance() {
        Random r = new Random(5);
        int classes = 10, dim = 32, n = 200, test = 4000;
        double[] xTrain = new double[n * dim], xTest = new double[test * dim];
        for (int i = 0; i < xTrain.length; i++) xTrain[i] = r.nextGaussian();
        for (int i = 0; i < xTest.length; i++) xTest[i] = r.nextGaussian();
        int[] yTrain = r.ints(n, 0, classes).toArray(), yTest = r.ints(test, 0, classes).toArray();
        double accuracy = LinearProbe.fit(xTrain, yTrain, dim, classes, 1.0).accuracy(xTest, yTest);
        // Chance is 10%; with 4000 test images the standard error is ~0.5 points.
        assertEquals(0.10, accuracy, 0.025);
    }

    @Test
    void primalAndDualSystemsGiveTheSameScores() {
        Random r = new Random(9);
        int classes = 3, dim = 7, n = 15;
        double[] x = new double[n * dim];
        for (int i = 0; i < x.length; i++) x[i] = r.nextGaussian() * (1 + i % dim);
        int[] y = r.ints(n, 0, classes).toArray();
        double[] test = new double[20 * dim];
        for (int i = 0; i < test.length; i++) test[i] = r.nextGaussian();
        for (double l2 : new double[]{1e-3, 1, 100}) {
            double[] primal = LinearProbe.fit(x, y, dim, classes, l2, true).scores(test);
            double[] dual = LinearProbe.fit(x, y, dim, classes, l2, false).scores(test);
            assertArrayEquals(primal, dual, 1e-7 * Arrays.stream(primal).map(Math::abs).max().orElse(1), "l2 " + l2);
        }
    }

    @Test
    void theRegulariserIsChosenOnHeldOutData() {
        Random r = new Random(2);
        int classes = 4, dim = 40;
        int[] yTrain = balanced(5, classes), yValidation = balanced(25, classes);
        // Noisy features in many dimensions: a tiny λ interpolates the noise, so held-out accuracy prefers a larger λ.
        double[] xTrain = separable(r, yTrain, dim, 3), xValidation = separable(r, yValidation, dim, 3);
        double[] grid = LinearProbe.l2Grid(-10, 10);
        assertEquals(21, grid.length);
        assertEquals(Math.pow(2, -10), grid[0]);
        assertEquals(1024, grid[20]);
        LinearProbe.Selection s = LinearProbe.selectL2(xTrain, yTrain, xValidation, yValidation, dim, classes, grid);
        int chosen = Arrays.binarySearch(grid, s.l2());
        assertTrue(chosen >= 0);
        for (double v : s.validationAccuracy()) assertTrue(s.validationAccuracy()[chosen] >= v);
        // Ties go to the larger λ: nothing right of the choice is as good.
        for (int i = chosen + 1; i < grid.length; i++) assertTrue(s.validationAccuracy()[i] < s.validationAccuracy()[chosen]);
    }

    @Test
    void drawsAreBalancedDisjointAndSeeded() {
        int classes = 3;
        int[] labels = new int[90];
        for (int i = 0; i < labels.length; i++) labels[i] = (i * 7) % classes;
        LinearProbe.Draw a = LinearProbe.draw(labels, classes, 4, 5, 1), same = LinearProbe.draw(labels, classes, 4, 5, 1),
                other = LinearProbe.draw(labels, classes, 4, 5, 2);
        assertArrayEquals(a.shots(), same.shots());
        assertArrayEquals(a.validation(), same.validation());
        assertFalse(Arrays.equals(a.shots(), other.shots()));
        int[] perClass = new int[classes];
        for (int i : a.shots()) perClass[labels[i]]++;
        assertArrayEquals(new int[]{4, 4, 4}, perClass);
        Set<Integer> seen = new HashSet<>();
        for (int i : a.shots()) assertTrue(seen.add(i));
        for (int i : a.validation()) assertTrue(seen.add(i), "validation image " + i + " is also a shot");
        assertEquals(12 + 15, seen.size());
        var e = assertThrows(IllegalArgumentException.class, () -> LinearProbe.draw(labels, classes, 20, 20, 0));
        assertTrue(e.getMessage().contains("class 0 has 30 examples"), e.getMessage());
    }

    @Test
    void spread() {
        LinearProbe.Spread s = LinearProbe.Spread.of(new double[]{1, 2, 3});
        assertEquals(2, s.mean(), 1e-15);
        assertEquals(1, s.std(), 1e-15);
        assertEquals(0, LinearProbe.Spread.of(new double[]{5}).std());
    }
}
