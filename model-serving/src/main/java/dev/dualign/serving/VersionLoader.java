package dev.dualign.serving;

import ai.djl.Device;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.text.WordTokenizer;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads a policy version from the registry, verified (files and manifest digest) and warmed up,
 * so a broken version is refused here and never reaches a request.
 */
final class VersionLoader {
    /** The server's logger: these lines read as they did when the server logged them itself. */
    private static final Logger LOG = LoggerFactory.getLogger(PolicyServer.class);

    private final ModelRegistry registry;
    private final Device device;
    private final WordTokenizer tokenizer;
    private final ServedPolicy reference;
    private final Generator generator;
    private final VersionTimeline timeline;
    private volatile String lastRefusal = "";

    VersionLoader(ModelRegistry registry, Device device, WordTokenizer tokenizer, ServedPolicy reference,
            Generator generator, VersionTimeline timeline) {
        this.registry = registry;
        this.device = device;
        this.tokenizer = tokenizer;
        this.reference = reference;
        this.generator = generator;
        this.timeline = timeline;
    }

    /** Why the last version was refused (empty if none was). */
    String lastRefusal() {
        return lastRefusal;
    }

    /** {@link #load}, or null with the refusal recorded (serving goes on unchanged with {@code stable}). */
    ServedPolicy loadOrRefuse(long version, String manifestSha256, long stable) {
        try {
            return load(version, manifestSha256);
        } catch (RuntimeException e) {
            lastRefusal = "version " + version + " refused: " + e.getMessage();
            LOG.error("{}; still serving version {}", lastRefusal, stable);
            timeline.record(version, "refuse", e.getMessage());
            return null;
        }
    }

    /** The version, loaded, verified against its manifest (or the given digest) and warmed up; 0 is the reference. */
    ServedPolicy load(long version, String manifestSha256) {
        if (version == 0) {
            return reference;
        }
        String sha = manifestSha256 != null ? manifestSha256 : registry.manifestSha256(ModelNames.POLICY, version);
        PolicyLm lm = PolicyLm.load(registry.open(ModelNames.POLICY, version, sha), device);
        try {
            // warm-up: one short generation; a broken or non-finite model is caught here, not by a user
            List<Generation> g = generator.generateOwned(lm, List.of(tokenizer.encode("hello")), Sampling.plain(4, 1));
            if (!Double.isFinite(g.get(0).logprob())) {
                throw new IllegalStateException("warm-up produced a non-finite log-probability");
            }
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        return new ServedPolicy(version, lm, sha, false);
    }
}
