package dev.tornadovit.tornado;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Wall-clock time of a backend's graph runs, grouped by kind: a recorded graph's name with its numbers as '#'
 * ("block#.forward"), an operation run on its own by its kernel. Each run is timed from its start until the device
 * has finished it (the profile waits for the device after every graph, so queued graphs do not overlap while profiled),
 * so the time holds the kernels and the host's work for the run; the runs' sum is the step's time spent in graphs.
 */
public final class GraphProfile {
    /** One kind of graph: how many graphs of it ran, their tasks per run, and the time they took. */
    public record Entry(String kind, long runs, long tasks, long nanos) {
    }

    private final Map<String, long[]> byKind = new LinkedHashMap<>();

    void add(String label, int tasks, long nanos) {
        long[] e = byKind.computeIfAbsent(kind(label), k -> new long[3]);
        e[0]++;
        e[1] += tasks;
        e[2] += nanos;
    }

    static String kind(String label) {
        int paren = label.indexOf('(');
        String name = paren >= 0 ? label.substring(0, paren) + " (alone)" : label;
        return name.replaceAll("\\d+", "#");
    }

    /** The kinds, most time first. */
    public List<Entry> entries() {
        List<Entry> out = new ArrayList<>();
        byKind.forEach((kind, e) -> out.add(new Entry(kind, e[0], e[1], e[2])));
        out.sort(Comparator.comparingLong(Entry::nanos).reversed());
        return out;
    }

    public void clear() {
        byKind.clear();
    }
}
