package dev.tornadovit.report;

import org.junit.jupiter.api.Test;

import java.text.DecimalFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlotsTest {

    @Test
    void yAxisLabelsShowAsManyDecimalsAsTheSpanNeeds() {
        assertEquals("#,##0.00", Plots.decimalPattern(0.31, 0.58)); // a loss curve
        assertEquals("#,##0", Plots.decimalPattern(40, 90)); // accuracy in %
        assertEquals("#,##0.00", Plots.decimalPattern(88.2, 89.1));
        // One epoch: a single value per series, where XChart's default printed 15 digits.
        String flat = Plots.decimalPattern(0.5555555555555556, 0.5555555555555556);
        assertEquals("0.556", new DecimalFormat(flat).format(0.5555555555555556));
        assertEquals("#,##0", Plots.decimalPattern(0, 0));
        assertTrue(Plots.decimalPattern(1, 1 + 1e-13).length() <= "#,##0.".length() + 8, "at most 8 decimals");
    }
}
