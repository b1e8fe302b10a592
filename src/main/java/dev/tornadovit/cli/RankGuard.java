package dev.tornadovit.cli;

import dev.tornadovit.distributed.Distributed;

import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * Runs a command as one rank of a data-parallel job. A rank that ends normally leaves the job (MPI_Finalize); a rank
 * that fails says so in one line naming itself and aborts the whole job, so that no other rank waits forever in a
 * collective. Alone, it just runs the command.
 */
final class RankGuard {
    private RankGuard() {
    }

    /**
     * @param stoppedMessage printed when mpirun stops this rank before the command ends (another rank failed): what
     *                       the user has left and how to continue
     */
    static int run(Distributed distributed, Supplier<String> stoppedMessage, Callable<Integer> command) throws Exception {
        if (distributed.size() == 1) {
            // Under mpirun -np 1 too: the one rank leaves the job properly.
            int code = command.call();
            distributed.close();
            return code;
        }
        // mpirun ends the surviving ranks with SIGTERM when one dies; the JVM then runs its shutdown hooks.
        Thread stopped = new Thread(() -> System.err.println("[" + distributed.describe() + "] stopped by mpirun "
                + "before the end, as another rank failed (mpirun names it). " + stoppedMessage.get()));
        Runtime.getRuntime().addShutdownHook(stopped);
        int code;
        try {
            code = command.call();
        } catch (Exception e) {
            Runtime.getRuntime().removeShutdownHook(stopped);
            if (Main.isUserError(e)) {
                System.err.println("error (" + distributed.describe() + "): " + e.getMessage());
            } else {
                System.err.println("error (" + distributed.describe() + "):");
                e.printStackTrace();
            }
            distributed.abort(2);
            throw e;
        } catch (OutOfMemoryError e) {
            Runtime.getRuntime().removeShutdownHook(stopped);
            System.err.println("error (" + distributed.describe() + "): "
                    + Main.outOfMemoryMessage(e, Runtime.getRuntime().maxMemory()).replaceFirst("^error: ", ""));
            distributed.abort(2);
            throw e;
        }
        Runtime.getRuntime().removeShutdownHook(stopped);
        distributed.close();
        return code;
    }
}
