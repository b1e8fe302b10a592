package dev.tornadovit.tornado;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@code -Dtornadovit.gemmGroupsPerUnit}: four by default, a whole number from 1 to 64, anything else refused. */
class GemmGroupsPerUnitTest {
    @Test
    void readsTheSettingAndRefusesWhatIsNotAGroupCount() {
        String before = System.getProperty(MatrixProducts.GROUPS_PER_UNIT);
        try {
            System.clearProperty(MatrixProducts.GROUPS_PER_UNIT);
            assertEquals(4, MatrixProducts.groupsPerUnit());
            System.setProperty(MatrixProducts.GROUPS_PER_UNIT, " 8 ");
            assertEquals(8, MatrixProducts.groupsPerUnit());
            for (String bad : new String[]{"0", "65", "-2", "four", ""}) {
                System.setProperty(MatrixProducts.GROUPS_PER_UNIT, bad);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, MatrixProducts::groupsPerUnit);
                assertEquals("-Dtornadovit.gemmGroupsPerUnit=" + bad + ": expected a whole number from 1 to 64",
                        e.getMessage());
            }
        } finally {
            if (before == null) System.clearProperty(MatrixProducts.GROUPS_PER_UNIT);
            else System.setProperty(MatrixProducts.GROUPS_PER_UNIT, before);
        }
    }
}
