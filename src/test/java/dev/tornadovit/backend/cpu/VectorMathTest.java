package dev.tornadovit.backend.cpu;

import dev.tornadovit.tensor.PointwiseActivation;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

class VectorMathTest {
    @Test
    void expIsAccurateToFloatResolution() {
        var s = FloatVector.SPECIES_PREFERRED;
        float[] x = new float[s.length() * 2000], y = new float[x.length];
        Random r = new Random(1);
        for (int i = 0; i < x.length; i++) x[i] = -87f + 175f * r.nextFloat();
        x[0] = 0;
        x[1] = -1e-30f;
        x[2] = 1;
        for (int i = 0; i < x.length; i += s.length()) VectorMath.exp(FloatVector.fromArray(s, x, i)).intoArray(y, i);
        double worst = 0;
        for (int i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(y[i] / Math.exp(x[i]) - 1));
        assertTrue(worst < 4e-7, "relative error " + worst);
    }

    /** Odd lengths exercise the scalar tail; both parts must agree with the float64 definition. */
    @Test
    void geluAndItsDerivativeMatchTheDefinition() {
        int n = 1001;
        float[] x = new float[n], y = new float[n], dy = new float[n], dx = new float[n];
        Random r = new Random(2);
        for (int i = 0; i < n; i++) {
            x[i] = (float) (4 * r.nextGaussian());
            dy[i] = (float) r.nextGaussian();
        }
        VectorMath.gelu(x, y, 0, n);
        VectorMath.geluBackward(x, dy, dx, 0, n);
        for (int i = 0; i < n; i++) {
            double want = PointwiseActivation.GELU.apply(x[i]);
            double wantD = dy[i] * PointwiseActivation.GELU.derivative(x[i]);
            assertTrue(Math.abs(y[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)), i + ": " + y[i] + " vs " + want);
            assertTrue(Math.abs(dx[i] - wantD) <= 2e-6 * Math.max(1, Math.abs(wantD)), i + ": " + dx[i] + " vs " + wantD);
        }
    }
}
