package dev.tornadovit.tornado.cuda;

import org.junit.jupiter.api.Test;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The alignment cuBLASLt is told our operands have: TornadoVM's array header past a 256-byte aligned allocation, and
 * for batched products the byte stride between matrices as well. Too large a value would let cuBLASLt offer
 * algorithms that fault or fail on our pointers; too small only narrows the choice.
 */
class CublasLtTuningTest {
    @Test
    void aSingleProductIsAsAlignedAsTheArrayHeader() {
        long header = TornadoNativeArray.ARRAY_HEADER;
        assertEquals(Math.min(256, Long.lowestOneBit(header)), CublasLtTuning.alignment(1));
        // strides of a single product are not used, so they do not lower the alignment
        assertEquals(CublasLtTuning.alignment(1), CublasLtTuning.alignment(1, 197, 3));
    }

    @Test
    void aBatchedProductIsNoMoreAlignedThanItsStrides() {
        int header = CublasLtTuning.alignment(1);
        // attention maps of 197 keys: 197·197 floats apart, an odd number of floats: 4-byte aligned only
        assertEquals(4, CublasLtTuning.alignment(768, 197L * 64, 197L * 64, 197L * 197));
        // 64-float heads: 256-byte strides keep the header's alignment
        assertEquals(header, CublasLtTuning.alignment(768, 197L * 64, 0, 64L * 64));
        // a shared operand (stride 0) does not lower it; a 2-float stride does
        assertEquals(Math.min(header, 8), CublasLtTuning.alignment(4, 0, 2, 64));
    }
}
