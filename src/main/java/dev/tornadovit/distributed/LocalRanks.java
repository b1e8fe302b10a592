package dev.tornadovit.distributed;

import java.util.List;
import java.util.Map;

/**
 * What the ranks that mpirun started on one host share out: the host's CPU cores (each rank's default thread count)
 * and, for device ranks, a list of devices (one per rank). Outside mpirun a process is alone on its host.
 */
public final class LocalRanks {
    /** Set by Open MPI's mpirun: this rank's index among the ranks on its host, and their number. */
    static final String LOCAL_RANK = "OMPI_COMM_WORLD_LOCAL_RANK", LOCAL_SIZE = "OMPI_COMM_WORLD_LOCAL_SIZE";

    private LocalRanks() {
    }

    /**
     * CPU threads for this rank: {@code requested} when positive; otherwise this host's cores shared out evenly over
     * its ranks (at least one each), so that N ranks on one machine do not each start a thread per core. With 0 and
     * no mpirun, 0 (the backend's default: every core).
     *
     * @param cores the processors this process may run on (mpirun's binding can make it fewer than the host's)
     */
    public static int threads(int requested, int cores, Map<String, String> env) {
        if (requested > 0) return requested;
        int ranks = number(env, LOCAL_SIZE, 1);
        return ranks <= 1 ? 0 : Math.max(1, cores / ranks);
    }

    /**
     * This rank's device: {@code device}, or, for a comma-separated list under mpirun, the entry of this rank's
     * local rank ({@code cuda:0,cuda:1} gives the host's first rank the first device, its second the second).
     */
    public static String device(String device, Map<String, String> env) {
        if (device == null || !device.contains(",")) return device;
        List<String> devices = List.of(device.split(",")).stream().map(String::strip).toList();
        if (env.get(LOCAL_RANK) == null) {
            throw new IllegalArgumentException("--device " + device + " lists several devices, one per rank of a job "
                    + "started by mpirun; without mpirun name one device");
        }
        int localRank = number(env, LOCAL_RANK, 0), localSize = number(env, LOCAL_SIZE, 1);
        if (devices.size() < localSize) {
            throw new IllegalArgumentException("--device " + device + " lists " + devices.size() + " devices but "
                    + localSize + " ranks run on this host; list one device per rank");
        }
        return devices.get(localRank);
    }

    private static int number(Map<String, String> env, String name, int absent) {
        String value = env.get(name);
        if (value == null) return absent;
        try {
            return Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("the environment's " + name + " is '" + value + "', expected a whole number");
        }
    }
}
