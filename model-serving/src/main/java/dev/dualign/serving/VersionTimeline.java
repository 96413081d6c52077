package dev.dualign.serving;

import dev.dualign.serving.PolicyServer.VersionEvent;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's version history (deploy, canary, wait, promote, rollback, retire, refuse): each
 * entry is kept for the admin view, logged, and told to the listeners (metrics, Kafka).
 */
final class VersionTimeline {
    /** The server's logger: these lines read as they did when the server logged them itself. */
    private static final Logger LOG = LoggerFactory.getLogger(PolicyServer.class);

    private final List<VersionEvent> timeline = new CopyOnWriteArrayList<>();
    private final List<Consumer<VersionEvent>> listeners = new CopyOnWriteArrayList<>();

    void addListener(Consumer<VersionEvent> l) {
        listeners.add(l);
    }

    List<VersionEvent> events() {
        return List.copyOf(timeline);
    }

    void record(long version, String kind, String detail) {
        VersionEvent e = new VersionEvent(System.currentTimeMillis(), version, kind, detail);
        timeline.add(e);
        LOG.info("version {}: {} ({})", version, kind, detail);
        for (Consumer<VersionEvent> l : listeners) {
            try {
                l.accept(e);
            } catch (RuntimeException ex) {
                LOG.warn("version listener failed: {}", ex.toString());
            }
        }
    }
}
