package dev.tornadovit.tensor;

public final class MathConstants {
    public static final double INV_SQRT2 = 0.70710678118654752440;
    public static final double INV_SQRT_2PI = 0.39894228040143267794;

    private MathConstants() {
    }
}
