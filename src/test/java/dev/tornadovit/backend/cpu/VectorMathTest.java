package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.PointwiseActivation;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The properties that keep training reproducible: exp is accurate, and an elementwise function gives the same bits
 * for an element whatever range it was computed in (threads split loops at different places).
 */
class VectorMathTest {

    @Test
    void expIsWithinTwoUlpsOfMathExpOverItsRange() {
        Random r = new Random(1);
        float[] x = new float[1 << 16];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextDouble() * 175 - 87.3);
        x[0] = 0;
        x[1] = -87.3f;
        x[2] = 88f;
        int lanes = FloatVector.SPECIES_PREFERRED.length();
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i += lanes) {
            VectorMath.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, i)).intoArray(y, i);
        }
        for (int i = 0; i < x.length; i++) {
            float expected = (float) Math.exp(x[i]);
            assertTrue(Math.abs(y[i] - expected) <= 2 * Math.ulp(expected), "exp(" + x[i] + ") = " + y[i] + ", expected " + expected);
        }
        assertEquals(1f, y[0]);
        float[] extremes = new float[lanes];
        extremes[0] = -200f;
        extremes[1] = 200f;
        extremes[2] = Float.NaN;
        VectorMath.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, extremes, 0)).intoArray(extremes, 0);
        // Clamped: at most float's smallest normal, at least e^88.
        assertTrue(extremes[0] > 0 && extremes[0] <= 1.2e-38f, "exp(-200) = " + extremes[0]);
        assertTrue(extremes[1] >= 1.6e38f && Float.isFinite(extremes[1]), "exp(200) = " + extremes[1]);
        assertTrue(Float.isNaN(extremes[2]), "NaN stays NaN, so a diverging run is still caught");
    }

    /** Inputs where a clamp or a ReLU decides the result: signed zeros, NaN, infinities and exp's clamp bounds. */
    private static final float[] EDGES = {-0f, 0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 6f,
            Math.nextUp(6f), Math.nextDown(6f), -87.33654f, Math.nextDown(-87.33654f), Math.nextUp(-87.33654f), 88f,
            Math.nextUp(88f), -Float.MIN_VALUE, Float.MIN_VALUE, -1000f};

    @Test
    void vectorExpGivesTheScalarExpsBitsAtItsEdges() {
        int lanes = FloatVector.SPECIES_PREFERRED.length();
        float[] x = Arrays.copyOf(EDGES, (EDGES.length + lanes - 1) / lanes * lanes), y = new float[x.length];
        for (int i = 0; i < x.length; i += lanes) {
            VectorMath.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, i)).intoArray(y, i);
        }
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.floatToIntBits(VectorMath.exp(x[i])), Float.floatToIntBits(y[i]), "exp(" + x[i] + ")");
        }
    }

    /** {@link #EDGES}, padded with copies to whole vectors, so that a loop over all of it runs only vector code. */
    private static float[] edgesInWholeVectors() {
        int lanes = FloatVector.SPECIES_PREFERRED.length();
        float[] x = new float[(EDGES.length + lanes - 1) / lanes * lanes];
        for (int i = 0; i < x.length; i++) x[i] = EDGES[i % EDGES.length];
        return x;
    }

    @Test
    void geluGivesTheSameBitsInAVectorLaneAndInTheScalarTailAtTheEdges() {
        float[] x = edgesInWholeVectors();
        int n = x.length;
        float[] vector = new float[n], scalar = new float[n];
        VectorMath.gelu(x, vector, 0, n);
        for (int i = 0; i < n; i++) VectorMath.gelu(x, scalar, i, i + 1);
        assertArrayEquals(vector, scalar);

        float[] dy = gaussian(n, 1), dxVector = new float[n], dxScalar = new float[n];
        VectorMath.geluBackward(x, dy, dxVector, false, 0, n);
        for (int i = 0; i < n; i++) VectorMath.geluBackward(x, dy, dxScalar, false, i, i + 1);
        assertArrayEquals(dxVector, dxScalar);
    }

    @ParameterizedTest
    @EnumSource(PointwiseActivation.class)
    void pointwiseWeightsGiveTheSameBitsInAVectorLaneAndInTheScalarTailAtTheEdges(PointwiseActivation h) {
        float[] s = edgesInWholeVectors();
        int n = s.length;
        float[] vector = new float[n], scalar = new float[n];
        VectorMath.pointwiseWeights(h, 0.3f, s, 0, vector, 0, n);
        for (int i = 0; i < n; i++) VectorMath.pointwiseWeights(h, 0.3f, s, i, scalar, i, 1);
        assertArrayEquals(vector, scalar, h.name());

        float[] dA = gaussian(n, 1), dsVector = new float[n], dsScalar = new float[n];
        VectorMath.pointwiseBackwardFromScores(h, 0.3f, s, 0, dA, 0, dsVector, 0, n, false);
        for (int i = 0; i < n; i++) VectorMath.pointwiseBackwardFromScores(h, 0.3f, s, i, dA, i, dsScalar, i, 1, false);
        assertArrayEquals(dsVector, dsScalar, h.name());
    }

    private static float[] gaussian(int n, double scale) {
        Random r = new Random(n);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (scale * r.nextGaussian());
        return x;
    }

    /**
     * GELU and its derivative against float64 (the reference backend's exact erf) on a dense grid over [-12, 12]:
     * GELU within 3e-7·max(1, |x|) (measured: 2.0e-7, at x ≈ 5.2 where erf's float32 rounding, up to 3.4e-7, is scaled
     * by x/2), its derivative within 3e-7 (2.0e-7), and near 0, where GELU ≈ x/2, within 5e-7 relative (2.0e-7).
     */
    @Test
    void geluAndItsDerivativeAreAccurateAgainstFloat64() {
        int n = 240_001;
        float[] x = new float[n], y = new float[n], dy = new float[n], dx = new float[n];
        for (int i = 0; i < n; i++) x[i] = -12f + 24f * i / (n - 1);
        Arrays.fill(dy, 1f);
        VectorMath.gelu(x, y, 0, n);
        VectorMath.geluBackward(x, dy, dx, false, 0, n);
        double worstValue = 0, worstDerivative = 0, worstRelativeNearZero = 0;
        for (int i = 0; i < n; i++) {
            double v = x[i], erf = dev.tornadovit.tensor.Erf.erf(v / Math.sqrt(2));
            double gelu = 0.5 * v * (1 + erf);
            double derivative = 0.5 * (1 + erf) + v * Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
            worstValue = Math.max(worstValue, Math.abs(y[i] - gelu) / Math.max(1, Math.abs(v)));
            worstDerivative = Math.max(worstDerivative, Math.abs(dx[i] - derivative));
            if (v != 0 && Math.abs(v) < 0.5) worstRelativeNearZero = Math.max(worstRelativeNearZero, Math.abs(y[i] / gelu - 1));
        }
        assertTrue(worstValue <= 3e-7, "GELU error " + worstValue);
        assertTrue(worstDerivative <= 3e-7, "GELU derivative error " + worstDerivative);
        assertTrue(worstRelativeNearZero <= 5e-7, "GELU relative error near 0 " + worstRelativeNearZero);
    }

    @Test
    void geluDoesNotDependOnHowTheRangeIsSplit() {
        int n = 203;
        float[] x = gaussian(n, 3), whole = new float[n], pieces = new float[n];
        VectorMath.gelu(x, whole, 0, n);
        int[] cuts = {0, 5, 13, 64, 100, 101, 203};
        for (int c = 0; c + 1 < cuts.length; c++) VectorMath.gelu(x, pieces, cuts[c], cuts[c + 1]);
        assertArrayEquals(whole, pieces);

        float[] dy = gaussian(n, 1), dxWhole = new float[n], dxPieces = new float[n];
        VectorMath.geluBackward(x, dy, dxWhole, true, 0, n);
        for (int c = 0; c + 1 < cuts.length; c++) VectorMath.geluBackward(x, dy, dxPieces, true, cuts[c], cuts[c + 1]);
        assertArrayEquals(dxWhole, dxPieces);
    }

    @ParameterizedTest
    @EnumSource(PointwiseActivation.class)
    void pointwiseWeightsDoNotDependOnHowTheRangeIsSplit(PointwiseActivation h) {
        int n = 157;
        float[] s = gaussian(n, 4), whole = new float[n], pieces = new float[n];
        VectorMath.pointwiseWeights(h, 0.3f, s, 0, whole, 0, n);
        int[] cuts = {0, 3, 11, 40, 41, 157};
        for (int c = 0; c + 1 < cuts.length; c++) {
            VectorMath.pointwiseWeights(h, 0.3f, s, cuts[c], pieces, cuts[c], cuts[c + 1] - cuts[c]);
        }
        assertArrayEquals(whole, pieces);

        float[] dA = gaussian(n, 1), dsWhole = new float[n], dsPieces = new float[n];
        VectorMath.pointwiseBackwardFromScores(h, 0.3f, s, 0, dA, 0, dsWhole, 0, n, true);
        for (int c = 0; c + 1 < cuts.length; c++) {
            int len = cuts[c + 1] - cuts[c];
            VectorMath.pointwiseBackwardFromScores(h, 0.3f, s, cuts[c], dA, cuts[c], dsPieces, cuts[c], len, true);
        }
        assertArrayEquals(dsWhole, dsPieces);
    }
}
