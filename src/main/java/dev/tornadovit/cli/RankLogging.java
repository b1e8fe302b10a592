package dev.tornadovit.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import dev.tornadovit.distributed.Distributed;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Rank 0 of a data-parallel run logs as a single process does; the other ranks log warnings and errors only, each
 * line naming its rank, so that N ranks' output is not N copies of the progress.
 */
public final class RankLogging {
    /** The logging context key the console pattern prints ahead of a message. */
    public static final String RANK_KEY = "rank";

    private RankLogging() {
    }

    public static void apply(Distributed distributed) {
        if (distributed.size() == 1) return;
        MDC.put(RANK_KEY, "[rank " + distributed.rank() + "] ");
        if (!distributed.isRoot() && LoggerFactory.getLogger("dev.tornadovit") instanceof Logger logger) {
            logger.setLevel(Level.WARN);
        }
    }
}
