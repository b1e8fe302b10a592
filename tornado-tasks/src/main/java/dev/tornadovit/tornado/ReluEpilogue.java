package dev.tornadovit.tornado;

import java.util.Locale;

/**
 * Where pointwise ReLU attention applies φ on the CUDA backend's heads-in-place core: as kernels of their own, or in
 * the epilogues of cuBLASLt's products ({@code -Dtornadovit.reluEpilogue=off|forward|both}).
 */
enum ReluEpilogue {
    /** φ and its backward as kernels of their own. */
    OFF,
    /**
     * φ in the scores' product (cuBLASLt's RELU epilogue, which runs on the same kernels as no epilogue); its backward
     * a kernel, from the weights. The default: no scores tensor, two passes over the [B,H,T,T] maps fewer forward.
     */
    FORWARD,
    /**
     * φ in the scores' product with a bit mask of where the weights are positive (RELU_AUX), and its backward in the
     * product dO·vᵀ, from that mask (DRELU); with a map step the backward stays a kernel.
     */
    BOTH;

    static final String PROPERTY = "tornadovit.reluEpilogue";

    /** The mode {@value #PROPERTY} names; FORWARD when it is not set. */
    static ReluEpilogue fromProperty() {
        String value = System.getProperty(PROPERTY);
        if (value == null) return FORWARD;
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + value + ": expected off, forward or both");
        }
    }
}
