package dev.dualign.serving;

import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.slf4j.Logger;

/**
 * A daemon thread that follows the loop's topics in Kafka sessions until closed. A session that
 * fails (no broker at start, a topic missing) is reported by {@link #problem()} (for
 * {@code /healthz}) and started again after a back-off growing from 1 s to 30 s, so a broker outage
 * only delays the follower. Subclasses say what a session reads.
 */
public abstract class TopicFollower implements AutoCloseable {
    private final Logger log;
    private final String what;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile String problem;
    private volatile KafkaConsumer<String, byte[]> current;
    private long backoff = 1_000;

    /**
     * @param threadName the thread's name
     * @param log where failed sessions are logged
     * @param what what the follower reads, for the problem and the log ("λ from dualign.dual")
     */
    TopicFollower(String threadName, Logger log, String what) {
        this.log = log;
        this.what = what;
        this.thread = new Thread(this::follow, threadName);
        thread.setDaemon(true);
    }

    /** Starts the thread; the subclass's constructor calls it last, once its own fields are set. */
    final void start() {
        thread.start();
    }

    /** A new consumer for one session. */
    abstract KafkaConsumer<String, byte[]> consumer();

    /**
     * One session on {@code consumer}: assigns it, calls {@link #connected()} once reading, then
     * polls while {@link #running()}. An exception ends the session and a new one starts.
     */
    abstract void session(KafkaConsumer<String, byte[]> consumer);

    /** The session reads: the problem clears and the back-off starts again from 1 s. */
    final void connected() {
        backoff = 1_000;
        problem = null;
    }

    final boolean running() {
        return running;
    }

    private void follow() {
        while (running) {
            try (KafkaConsumer<String, byte[]> c = consumer()) {
                current = c;
                session(c);
            } catch (org.apache.kafka.common.errors.InterruptException | org.apache.kafka.common.errors.WakeupException e) {
                return; // closing
            } catch (RuntimeException e) {
                problem = "cannot read " + what + ": " + e;
                log.warn("{}: {}; trying again in {} s", what, e.toString(), backoff / 1000);
                try {
                    Thread.sleep(backoff);
                } catch (InterruptedException ie) {
                    return;
                }
                backoff = Math.min(30_000, backoff * 2);
            } finally {
                current = null;
            }
        }
    }

    /** Why the follower cannot read its topics (for {@code /healthz}), or null while it does. */
    public String problem() {
        return problem;
    }

    @Override
    public void close() {
        running = false;
        KafkaConsumer<String, byte[]> c = current;
        if (c != null) {
            c.wakeup();
        }
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
