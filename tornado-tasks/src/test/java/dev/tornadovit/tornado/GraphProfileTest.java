package dev.tornadovit.tornado;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The bench's per-step profile: graph runs grouped by kind, most time first. */
class GraphProfileTest {
    @Test
    void runsAreGroupedByKindWithNumbersAsHashesAndSortedByTime() {
        GraphProfile profile = new GraphProfile();
        profile.add("block0.attention.forward.b128.train.w1", 11, 2_000);
        profile.add("block11.attention.forward.b128.train.w1", 11, 3_000);
        profile.add("optimizer.adamw", 152, 9_000);
        profile.add("gemm(#12,#13,#14,25216,)", 1, 500);
        profile.add("gemm(#15,#16,#17,197,)", 1, 700);
        List<GraphProfile.Entry> entries = profile.entries();
        assertEquals(List.of(
                new GraphProfile.Entry("optimizer.adamw", 1, 152, 9_000),
                new GraphProfile.Entry("block#.attention.forward.b#.train.w#", 2, 22, 5_000),
                new GraphProfile.Entry("gemm (alone)", 2, 2, 1_200)), entries);
        profile.clear();
        assertEquals(List.of(), profile.entries());
    }
}
