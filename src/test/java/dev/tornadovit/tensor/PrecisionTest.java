package dev.tornadovit.tensor;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The operand rounding of each precision, bit by bit, and against PyTorch's float32 → bfloat16 conversion. */
class PrecisionTest {

    private static int bf16(int bits) {
        return Float.floatToRawIntBits(Precision.roundToBf16(Float.intBitsToFloat(bits)));
    }

    private static int tf32(int bits) {
        return Float.floatToRawIntBits(Precision.roundToTf32(Float.intBitsToFloat(bits)));
    }

    private static void assertBits(int expected, int actual, String what) {
        assertEquals(Integer.toHexString(expected), Integer.toHexString(actual), what);
    }

    @Test
    void bf16KeepsSevenSignificandBitsRoundingToNearestTiesToEven() {
        assertBits(0x3F800000, bf16(0x3F800000), "1 is exact");
        assertBits(0x3F800000, bf16(0x3F807FFF), "just below half a unit: down");
        assertBits(0x3F810000, bf16(0x3F808001), "just above half a unit: up");
        assertBits(0x3F800000, bf16(0x3F808000), "a tie with an even kept part stays");
        assertBits(0x3F820000, bf16(0x3F818000), "a tie with an odd kept part goes up to even");
        assertBits(0xBF820000, bf16(0xBF818000), "negative ties alike");
        assertBits(0x40000000, bf16(0x3FFFFFFF), "the carry steps the exponent");
        assertBits(0x40490000, bf16(Float.floatToRawIntBits((float) Math.PI)), "pi = 3.140625 in bf16");
    }

    @Test
    void tf32KeepsTenSignificandBitsRoundingToNearestTiesToEven() {
        assertBits(0x3F800000, tf32(0x3F800FFF), "just below half a unit: down");
        assertBits(0x3F802000, tf32(0x3F801001), "just above half a unit: up");
        assertBits(0x3F800000, tf32(0x3F801000), "a tie with an even kept part stays");
        assertBits(0x3F804000, tf32(0x3F803000), "a tie with an odd kept part goes up to even");
        assertBits(0x40000000, tf32(0x3FFFFFFF), "the carry steps the exponent");
        assertBits(0x40490000, tf32(0x40490FDB), "pi = 3.140625 in tf32 too: the 13 dropped bits are below half");
        assertBits(0x3DCCC000, tf32(0x3DCCCCCD), "0.1f: down in tf32");
        assertBits(0x3DCD0000, bf16(0x3DCCCCCD), "0.1f: up in bf16");
    }

    @Test
    void infinitiesZerosAndOverflowBehaveAsTheFormatsDo() {
        for (Precision p : List.of(Precision.TF32, Precision.BF16)) {
            assertEquals(Float.POSITIVE_INFINITY, p.round(Float.POSITIVE_INFINITY), p.label());
            assertEquals(Float.NEGATIVE_INFINITY, p.round(Float.NEGATIVE_INFINITY), p.label());
            assertBits(0x80000000, Float.floatToRawIntBits(p.round(-0f)), p.label() + " keeps -0");
            assertBits(0, Float.floatToRawIntBits(p.round(0f)), p.label());
            // fp32's largest value is past either format's largest plus half a unit: it rounds to infinity.
            assertEquals(Float.POSITIVE_INFINITY, p.round(Float.MAX_VALUE), p.label());
            assertEquals(Float.NEGATIVE_INFINITY, p.round(-Float.MAX_VALUE), p.label());
        }
        // bf16's largest finite value, 0x7F7F0000 = (2 - 2^-7)·2^127, is exact; half a unit above it is a tie with
        // an odd kept part: up, to infinity; anything below stays.
        assertBits(0x7F7F0000, bf16(0x7F7F0000), "max bf16 is exact");
        assertBits(0x7F7F0000, bf16(0x7F7F7FFF), "below the tie: max bf16");
        assertBits(0x7F800000, bf16(0x7F7F8000), "the tie above max bf16: infinity");
        assertBits(0x7F7FE000, tf32(0x7F7FE000), "max tf32 is exact");
        assertBits(0x7F7FE000, tf32(0x7F7FEFFF), "below the tie: max tf32");
        assertBits(0x7F800000, tf32(0x7F7FF000), "the tie above max tf32: infinity");
    }

    @Test
    void aNanStaysANanWhateverItsPayload() {
        // A NaN whose payload lies only in the dropped bits would become infinity if rounded like a number.
        for (int bits : new int[]{0x7F800001, 0x7F807FFF, 0xFF800001, 0x7FC00000, 0x7FFFFFFF, 0xFFFFFFFF, 0x7F801000}) {
            for (Precision p : Precision.values()) {
                float r = p.round(Float.intBitsToFloat(bits));
                assertTrue(Float.isNaN(r), p.label() + " of " + Integer.toHexString(bits) + " gave " + r);
            }
            assertEquals(bits & 0x80000000, bf16(bits) & 0x80000000, "sign kept");
        }
    }

    @Test
    void subnormalsRoundOnTheSameGridAsNormals() {
        assertBits(0, bf16(0x00000001), "the smallest subnormal: down to 0");
        assertBits(0x80000000, bf16(0x80000001), "to -0");
        assertBits(0, bf16(0x00008000), "a tie with an even kept part (0): 0");
        assertBits(0x00020000, bf16(0x00018000), "a tie with an odd kept part: up");
        assertBits(0x00800000, bf16(0x007FFFFF), "the largest subnormal rounds up to the smallest normal");
        assertBits(0x00800000, tf32(0x007FFFFF), "in tf32 too");
        assertBits(0x00002000, tf32(0x00001001), "tf32's smallest subnormal step");
    }

    @Test
    void bf16MatchesPytorchsConversionOnEveryFixtureValue() throws IOException {
        // scripts/make_precision_fixture.py: torch.tensor(x).to(torch.bfloat16).float() for 1561 values.
        String text;
        try (InputStream in = PrecisionTest.class.getResourceAsStream("/precision/bf16-torch.csv")) {
            assertNotNull(in, "fixture precision/bf16-torch.csv");
            text = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
        long checked = text.lines().filter(l -> !l.startsWith("#")).peek(line -> {
            String[] f = line.split(",");
            int input = Integer.parseUnsignedInt(f[0], 16), torch = Integer.parseUnsignedInt(f[1], 16);
            assertBits(torch, bf16(input), "bf16 of " + f[0]);
        }).count();
        assertEquals(1561, checked);
    }

    @Test
    void roundingIsIdempotentMonotoneAndWithinHalfAUnit() {
        SplittableRandom rng = new SplittableRandom(3);
        for (int i = 0; i < 200_000; i++) {
            float x = Float.intBitsToFloat(rng.nextInt());
            if (Float.isNaN(x) || Float.isInfinite(x)) continue;
            for (Precision p : List.of(Precision.TF32, Precision.BF16)) {
                float r = p.round(x);
                assertEquals(Float.floatToRawIntBits(r), Float.floatToRawIntBits(p.round(r)), "idempotent");
                assertEquals(0, Float.floatToRawIntBits(r) & ~(-1 << p.droppedBits()), "dropped bits are zero");
                if (Float.isInfinite(r) || Math.abs(x) < Float.MIN_NORMAL) continue;
                assertTrue(Math.abs((double) r - x) <= p.unitRoundoff() * Math.abs((double) x),
                        p.label() + ": " + x + " → " + r);
            }
            assertEquals(Float.floatToRawIntBits(x), Float.floatToRawIntBits(Precision.FP32.round(x)), "fp32 keeps x");
        }
    }

    @Test
    void labelsParseInAnyCaseAndAnythingElseIsOneLineListingThem() {
        assertEquals(Precision.BF16, Precision.parse("bf16"));
        assertEquals(Precision.TF32, Precision.parse("TF32"));
        assertEquals("fp32", Precision.FP32.toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("fp16"));
        assertEquals("expected fp32|tf32|bf16, got 'fp16'", e.getMessage());
    }
}
