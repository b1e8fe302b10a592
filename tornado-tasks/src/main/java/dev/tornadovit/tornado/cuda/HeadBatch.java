package dev.tornadovit.tornado.cuda;

/**
 * The two-level batch of a {@value CudaLibraryProvider#GEMM_HEADS} call: every (image, head) pair's matrix of each
 * operand, image-major, at {@code image·imageStride + head·headStep} values past the operand's first matrix. An
 * attention head's q in the qkv activation [B,T,3,H,hd] is one: images T·3·H·hd values apart, heads hd apart, which no
 * single stride reaches. The call's descriptor carries it as its tuning object, whose identity keys the call's
 * pointer arrays ({@link PointerArrays}).
 */
public record HeadBatch(int images, int heads, long imageStrideA, long headStepA, long imageStrideB, long headStepB,
                        long imageStrideC, long headStepC) {
    public HeadBatch {
        if (images < 1 || heads < 1) throw new IllegalArgumentException("images " + images + ", heads " + heads);
    }

    /** The matrices of each operand: images · heads. */
    public int count() {
        return images * heads;
    }

    /** Values from the first matrix of an operand to matrix {@code z} (image z / heads, head z % heads). */
    static long offset(int z, int heads, long imageStride, long headStep) {
        return (z / heads) * imageStride + (z % heads) * headStep;
    }
}
