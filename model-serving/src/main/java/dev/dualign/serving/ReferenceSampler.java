package dev.dualign.serving;

import dev.dualign.core.event.ResponseEvent;
import dev.dualign.serving.PolicyServer.Answer;
import dev.dualign.serving.PolicyServer.Ask;
import dev.dualign.serving.PolicyServer.Prompt;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reference sampling for the job's one-shot solve: which prompts the reference policy also
 * answers, and those answers, until λ(0) is set.
 */
final class ReferenceSampler {
    /** The server's logger: these lines read as they did when the server logged them itself. */
    private static final Logger LOG = LoggerFactory.getLogger(PolicyServer.class);

    private final Generator generator;
    private final ServedPolicy reference;
    private final ServerSettings settings;
    private volatile boolean referenceWanted = true;

    ReferenceSampler(Generator generator, ServedPolicy reference, ServerSettings settings) {
        this.generator = generator;
        this.reference = reference;
        this.settings = settings;
    }

    /** {@code samples} responses of the reference policy to each prompt, tagged {@code source=reference}. */
    List<ResponseEvent> samples(List<Prompt> prompts, int samples) {
        int[][] once = generator.encode(prompts);
        List<Ask> repeated = new ArrayList<>();
        int[][] ids = new int[prompts.size() * samples][];
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            for (int k = 0; k < samples; k++) {
                ids[repeated.size()] = once[i];
                idx.add(repeated.size());
                repeated.add(new Ask(prompts.get(i), prompts.get(i).id(), settings.temperature(), 1.0, settings.maxTokens()));
            }
        }
        Answer[] out = new Answer[repeated.size()];
        generator.generate(reference, repeated, ids, idx, out, ResponseEvent.SOURCE_REFERENCE, null);
        return java.util.Arrays.stream(out).map(Answer::event).toList();
    }

    /**
     * λ(0) is set: the reference samples (for the one-shot solve, and a relative margin) have done
     * their work, so no more are generated. Called on the first {@code DualUpdate} seen.
     */
    void noLongerNeeded() {
        if (referenceWanted) {
            referenceWanted = false;
            LOG.info("λ(0) is set: reference sampling stops");
        }
    }

    /** Whether this prompt is one of the {@code referenceFraction} also answered by the reference (until λ(0) is set). */
    boolean sampled(String promptId) {
        return referenceWanted && RouteHash.unit(promptId, RouteHash.REFERENCE, settings.seed()) < settings.referenceFraction();
    }
}
