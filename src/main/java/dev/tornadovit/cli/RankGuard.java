package dev.tornadovit.cli;

import dev.tornadovit.distributed.Distributed;

import java.util.concurrent.Callable;

/**
 * Runs a command as one rank of a data-parallel job. A rank that ends normally leaves the job (MPI_Finalize); a rank
 * that fails says so in one line naming itself and aborts the whole job, so that no other rank waits forever in a
 * collective. Alone, it just runs the command.
 */
final class RankGuard {
    private RankGuard() {
    }

    static int run(Distributed distributed, Callable<Integer> command) throws Exception {
        if (distributed.size() == 1) return command.call();
        int code;
        try {
            code = command.call();
        } catch (Exception e) {
            if (Main.isUserError(e)) {
                System.err.println("error (" + distributed.describe() + "): " + e.getMessage());
            } else {
                System.err.println("error (" + distributed.describe() + "):");
                e.printStackTrace();
            }
            distributed.abort(2);
            throw e;
        } catch (OutOfMemoryError e) {
            System.err.println("error (" + distributed.describe() + "): "
                    + Main.outOfMemoryMessage(e, Runtime.getRuntime().maxMemory()).replaceFirst("^error: ", ""));
            distributed.abort(2);
            throw e;
        }
        distributed.close();
        return code;
    }
}
