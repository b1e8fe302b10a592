package dev.tornadovit.tensor;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The number format of a matrix product's operands. Whatever the precision, a product accumulates in fp32 and
 * everything else a model does (weights and their AdamW state, activations between operations, LayerNorm
 * statistics, softmax, the loss) stays fp32: only the two operands of every matrix product are rounded, each to
 * the significand this format keeps, round-to-nearest-even. Checkpoints are fp32 whatever the precision.
 *
 * <ul>
 *   <li>{@link #FP32}: operands as they are, 23 explicit significand bits; the default and the reference.</li>
 *   <li>{@link #TF32}: 10 explicit significand bits (NVIDIA's TensorFloat-32), fp32's exponent range.</li>
 *   <li>{@link #BF16}: 7 explicit significand bits (bfloat16), fp32's exponent range.</li>
 * </ul>
 *
 * A product of two TF32 or two BF16 values is exact in fp32 (at most 22 significand bits), so the rounding of the
 * operands is the only error these formats add before the fp32 sum.
 */
public enum Precision {
    FP32(23), TF32(10), BF16(7);

    private static final int FLOAT_SIGNIFICAND_BITS = 23;
    private static final int QUIET_NAN_BIT = 1 << (FLOAT_SIGNIFICAND_BITS - 1);

    private final int significandBits;

    Precision(int significandBits) {
        this.significandBits = significandBits;
    }

    /** Explicit significand (mantissa) bits an operand keeps: 23, 10 or 7. */
    public int significandBits() {
        return significandBits;
    }

    /** Low bits of an fp32 value's significand that rounding drops: 0, 13 or 16. */
    public int droppedBits() {
        return FLOAT_SIGNIFICAND_BITS - significandBits;
    }

    /**
     * The largest relative error of rounding a normal value to this precision: half a unit in the last kept place,
     * 2^-(kept bits + 1) — 2^-8 for bf16, 2^-11 for tf32, 0 for fp32 (nothing is rounded).
     */
    public double unitRoundoff() {
        return this == FP32 ? 0 : Math.scalb(1.0, -(significandBits + 1));
    }

    /** {@code x} as a matrix product's operand in this precision: {@link #roundToTf32}, {@link #roundToBf16} or x. */
    public float round(float x) {
        return this == FP32 ? x : roundBits(x, droppedBits());
    }

    /** The lower-case name the command line and options.json use: fp32, tf32, bf16. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return label();
    }

    /** The labels, "fp32|tf32|bf16", for messages. */
    public static String labels() {
        return Arrays.stream(values()).map(Precision::label).collect(Collectors.joining("|"));
    }

    /** A precision by its label, any case; anything else is a one-line error listing the labels. */
    public static Precision parse(String text) {
        String t = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
        for (Precision p : values()) if (p.label().equals(t)) return p;
        throw new IllegalArgumentException("expected " + labels() + ", got '" + text + "'");
    }

    /**
     * {@code x} rounded to TF32: 10 explicit significand bits, round-to-nearest-even on the 13 dropped bits. Infinities
     * stay, a NaN stays a NaN (quiet, its sign and high payload kept), a value past TF32's largest finite one rounds
     * to infinity, subnormals round like any other value (same spacing), and signed zeros keep their sign.
     */
    public static float roundToTf32(float x) {
        return roundBits(x, TF32.droppedBits());
    }

    /** {@code x} rounded to bfloat16: 7 explicit significand bits, round-to-nearest-even; as {@link #roundToTf32}. */
    public static float roundToBf16(float x) {
        return roundBits(x, BF16.droppedBits());
    }

    /**
     * Rounds away the low {@code dropped} bits of x's pattern to the nearest, ties to even: adding half a unit less one,
     * plus the kept last bit, carries into the kept bits exactly when the dropped part is above half or is half and
     * the kept part is odd. A carry out of the significand steps the exponent, and past the largest exponent gives
     * infinity's pattern, as it should. NaN is the one pattern the carry could turn into infinity: it is kept, quiet.
     */
    static float roundBits(float x, int dropped) {
        int bits = Float.floatToRawIntBits(x);
        int keep = -1 << dropped;
        if (Float.isNaN(x)) return Float.intBitsToFloat((bits | QUIET_NAN_BIT) & keep);
        int lastKept = (bits >>> dropped) & 1;
        return Float.intBitsToFloat((bits + (1 << (dropped - 1)) - 1 + lastKept) & keep);
    }
}
