package dev.tornadovit.research;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.RootBroadcast;
import dev.tornadovit.train.EpochRecord;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A sweep spread over ranks: each rank trained its share of the runs; here every rank hands its outcomes to all the
 * others (one broadcast per rank, as JSON), so that rank 0 can tabulate the whole grid without reading other hosts'
 * folders.
 */
final class SweepShare {
    private static final JsonMapper JSON = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(JsonWriteFeature.WRITE_NAN_AS_STRINGS).build();

    /** One run's outcome as it travels between ranks. */
    record Outcome(int index, Sweep.Status status, String failure, long parameters, List<EpochRecord> history) {
    }

    private SweepShare() {
    }

    /** Every run's result, in the order of {@code runs}, given this rank's runs {@code mine} and their results. */
    static List<Sweep.Result> allResults(Distributed distributed, List<SweepRun> runs, List<Integer> mine,
                                         List<Sweep.Result> own) {
        if (distributed.size() == 1) return own;
        List<Outcome> outcomes = new ArrayList<>();
        for (int i = 0; i < mine.size(); i++) {
            Sweep.Result r = own.get(i);
            outcomes.add(new Outcome(mine.get(i), r.status(), r.failure(), r.parameters(), r.history()));
        }
        Sweep.Result[] all = new Sweep.Result[runs.size()];
        try {
            String json = JSON.writeValueAsString(outcomes);
            for (int rank = 0; rank < distributed.size(); rank++) {
                String shared = RootBroadcast.string(distributed, json, rank);
                for (Outcome o : JSON.readValue(shared, Outcome[].class)) {
                    all[o.index()] = new Sweep.Result(runs.get(o.index()), o.status(), o.failure(), o.parameters(),
                            o.history());
                }
            }
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("sweep outcomes could not be exchanged between ranks: " + e.getMessage(), e);
        }
        if (Arrays.stream(all).anyMatch(r -> r == null)) {
            throw new IllegalStateException("a rank did not report all of its sweep runs");
        }
        return List.of(all);
    }
}
