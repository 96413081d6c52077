package dev.dualign.finetune;

import dev.dualign.core.dataset.PolicyDataset;
import dev.dualign.core.dataset.PolicyDatasetRecord;
import dev.dualign.core.dataset.ScoredResponse;
import dev.dualign.core.event.ChatMessage;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ScoredSample;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What the built-in trainer trains on when a request names a dataset: the file's responses, read
 * from the request's URI and checked against its digest and count, as the scored samples the
 * policy step takes. So it trains on what the request names, like any outside trainer, and not on
 * whatever its own view of the topics holds.
 */
final class DatasetInput {
    private DatasetInput() {}

    /**
     * The request's dataset as scored samples, oldest prompt first (the step reads the newest last).
     *
     * @throws IllegalArgumentException the URI is not a {@code file:} URI, the file is not the one the
     *     request names (digest, count), or a line is not a valid record
     * @throws UncheckedIOException the file cannot be read
     */
    static List<ScoredSample> read(FineTuneRequest req) {
        FineTuneRequest.Dataset d = req.dataset();
        URI uri = URI.create(d.uri());
        if (!"file".equals(uri.getScheme())) {
            throw new IllegalArgumentException("dataset " + d.uri() + ": the built-in trainer reads file: URIs only (mount the "
                    + "dataset root where it runs)");
        }
        List<PolicyDatasetRecord> records;
        try {
            records = PolicyDataset.read(Path.of(uri), d);
        } catch (IOException e) {
            throw new UncheckedIOException("dataset " + d.uri() + " cannot be read: " + e.getMessage(), e);
        }
        List<ScoredSample> out = new ArrayList<>();
        for (int i = records.size() - 1; i >= 0; i--) {
            PolicyDatasetRecord r = records.get(i);
            String prompt = lastUser(r.messages());
            for (int k = 0; k < r.responses().size(); k++) {
                ScoredResponse x = r.responses().get(k);
                out.add(new ScoredSample(r.promptId() + "#" + k, r.promptId(), prompt, x.text(), x.version(), x.logprob(),
                        x.refLogprob(), null, null, x.reward(),
                        x.utilities()));
            }
        }
        return out;
    }

    /** The prompt text the built-in model answers: the last user message (it has no chat template). */
    private static String lastUser(List<ChatMessage> messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if ("user".equals(messages.get(i).role())) {
                return messages.get(i).content();
            }
        }
        return messages.get(messages.size() - 1).content();
    }
}
