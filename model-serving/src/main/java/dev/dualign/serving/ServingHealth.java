package dev.dualign.serving;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Why {@link ServingLoop}'s Kafka sessions are not working right now (for {@code /healthz}), and the
 * restarts after a backoff that follow a failed session.
 */
final class ServingHealth {
    private static final Logger LOG = LoggerFactory.getLogger(ServingLoop.class); // logs as ServingLoop did

    private final String transactionalId;
    private final BooleanSupplier running;
    private final AtomicLong sessionFailures = new AtomicLong();
    /** Why this server is not doing its job right now (null: it is); {@code /healthz} reports it. */
    private volatile String promptProblem;
    private volatile String eventProblem;

    ServingHealth(String transactionalId, BooleanSupplier running) {
        this.transactionalId = transactionalId;
        this.running = running;
    }

    void promptProblem(String p) {
        promptProblem = p;
    }

    void eventProblem(String p) {
        eventProblem = p;
    }

    /** The prompt loop's problem, else the event loop's, else null. */
    String problem() {
        String p = promptProblem;
        return p != null ? p : eventProblem;
    }

    /** Kafka sessions of either thread that failed and were started again. */
    long sessionFailures() {
        return sessionFailures.get();
    }

    /**
     * Runs {@code session} until closed. A session that fails (the broker gone, a commit or abort
     * refused) is logged, reported through {@code problem} ({@code /healthz} answers 503 meanwhile)
     * and started again after 1 s, doubling to 30 s. A fenced prompt loop (another live instance
     * took its transactional id) stops for good and says so: starting again would fence the other.
     */
    void sessions(String name, Runnable session, java.util.function.Consumer<String> problem) {
        dev.dualign.service.Backoff backoff = new dev.dualign.service.Backoff();
        while (running.getAsBoolean()) {
            long started = System.currentTimeMillis();
            try {
                session.run();
                return;
            } catch (org.apache.kafka.common.errors.InterruptException | org.apache.kafka.common.errors.WakeupException e) {
                return; // closing
            } catch (ProducerFencedException e) {
                problem.accept("the prompt loop stopped: another server instance uses transactional id " + transactionalId
                        + " (set a distinct server.instance-id on each)");
                LOG.error("the policy server's prompt loop was fenced by another instance with transactional id {}; it stops",
                        transactionalId);
                return;
            } catch (RuntimeException e) {
                if (!running.getAsBoolean()) {
                    return;
                }
                sessionFailures.incrementAndGet();
                long waitMs = backoff.after(System.currentTimeMillis() - started);
                problem.accept("the " + name + " is reconnecting after: " + e);
                LOG.error("the policy server's {} failed; starting it again in {} s", name, waitMs / 1000, e);
                if (!dev.dualign.service.Backoff.sleep(waitMs)) {
                    return;
                }
            }
        }
    }
}
