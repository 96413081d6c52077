package dev.dualign.serving;

import dev.dualign.model.lm.PolicyLm;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loaded policy version with a reference count: the deployment holds one reference and every
 * request in flight one more, so a swapped-out version is closed only when its last request ends.
 */
final class ServedPolicy {
    final long version;
    final PolicyLm lm;
    final String manifestSha256;
    private final AtomicInteger refs = new AtomicInteger(1);
    private final boolean pinned;

    ServedPolicy(long version, PolicyLm lm, String manifestSha256, boolean pinned) {
        this.version = version;
        this.lm = lm;
        this.manifestSha256 = manifestSha256;
        this.pinned = pinned;
    }

    /** Takes a reference; false once the version has been released for good. */
    boolean acquire() {
        if (pinned) {
            return true; // the reference lives as long as the server
        }
        while (true) {
            int r = refs.get();
            if (r <= 0) {
                return false;
            }
            if (refs.compareAndSet(r, r + 1)) {
                return true;
            }
        }
    }

    void release() {
        if (!pinned && refs.decrementAndGet() == 0) {
            lm.close();
        }
    }
}
