package dev.tornadovit.distributed;

import java.util.Map;

/** Decides from the environment whether this process is one rank of an Open MPI job. */
final class Launch {
    /** Set by Open MPI's mpirun (3, 4 and 5) in every rank's environment. */
    static final String OPEN_MPI_SIZE = "OMPI_COMM_WORLD_SIZE";

    private Launch() {
    }

    static Distributed fromEnvironment(Map<String, String> env) {
        if (env.get(OPEN_MPI_SIZE) != null) return OpenMpiProcess.start();
        // MPICH's and Intel MPI's launchers set PMI_SIZE: their ranks would each train alone into one run folder.
        String pmiSize = env.get("PMI_SIZE");
        if (pmiSize != null && !"1".equals(pmiSize.trim())) {
            throw new IllegalArgumentException("this process was started by an mpirun that is not Open MPI's (PMI_SIZE="
                    + pmiSize + " is set, " + OPEN_MPI_SIZE + " is not); TornadoViT's data-parallel training runs on "
                    + "Open MPI: start it with Open MPI's mpirun");
        }
        return Distributed.single();
    }
}
