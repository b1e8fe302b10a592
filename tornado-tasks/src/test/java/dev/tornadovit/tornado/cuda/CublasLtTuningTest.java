package dev.tornadovit.tornado.cuda;

import org.junit.jupiter.api.Test;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The alignment cuBLASLt is told our operands have: TornadoVM's array header (and a stored bf16 operand's offset) past
 * a 256-byte aligned allocation, and for batched products the byte stride between matrices as well. Too large a value would let cuBLASLt offer
 * algorithms that fault or fail on our pointers; too small only narrows the choice.
 */
class CublasLtTuningTest {
    @Test
    void aSingleProductIsAsAlignedAsTheArrayHeader() {
        long header = TornadoNativeArray.ARRAY_HEADER;
        assertEquals(Math.min(256, Long.lowestOneBit(header)), CublasLtTuning.alignment(0, 4, 1));
        // strides of a single product are not used, so they do not lower the alignment
        assertEquals(CublasLtTuning.alignment(0, 4, 1), CublasLtTuning.alignment(0, 4, 1, 197, 3));
    }

    @Test
    void storedBf16OperandsStartOnA32ByteBoundary() {
        assertEquals(0, (TornadoNativeArray.ARRAY_HEADER + GemmCompute.BF16_OFFSET_BYTES) % 32);
        assertEquals(0, GemmCompute.BF16_OFFSET_BYTES % 2, "a whole number of bf16 values");
        assertEquals(0, CublasLtTuning.alignment(GemmCompute.BF16_OFFSET_BYTES, 2, 1) % 32);
        // bf16 heads of 64 values: 128-byte strides; maps of 197 keys: 2-byte aligned only
        assertEquals(32, CublasLtTuning.alignment(GemmCompute.BF16_OFFSET_BYTES, 2, 768, 197L * 64, 197L * 64));
        assertEquals(2, CublasLtTuning.alignment(GemmCompute.BF16_OFFSET_BYTES, 2, 768, 197L * 197, 197L * 64));
    }

    @Test
    void aBatchedProductIsNoMoreAlignedThanItsStrides() {
        int header = CublasLtTuning.alignment(0, 4, 1);
        // attention maps of 197 keys: 197·197 floats apart, an odd number of floats: 4-byte aligned only
        assertEquals(4, CublasLtTuning.alignment(0, 4, 768, 197L * 64, 197L * 64, 197L * 197));
        // 64-float heads: 256-byte strides keep the header's alignment
        assertEquals(header, CublasLtTuning.alignment(0, 4, 768, 197L * 64, 0, 64L * 64));
        // a shared operand (stride 0) does not lower it; a 2-float stride does
        assertEquals(Math.min(header, 8), CublasLtTuning.alignment(0, 4, 4, 0, 2, 64));
    }
}
