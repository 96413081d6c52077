package dev.dualign.core.dataset;

import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.InvalidEventException;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The file of a policy step's dataset: one {@link PolicyDatasetRecord} per line (JSON Lines). The
 * writer returns the sha256 the request carries; the reader refuses a file whose bytes do not match
 * it, because a trainer that trained on other data would answer a request it never read.
 */
public final class PolicyDataset {
    /** The {@code format} a request names for this file. */
    public static final String FORMAT = "dualign-policy-v1";

    private PolicyDataset() {}

    /**
     * The records of a request's dataset: one per prompt, in the order given, each response scored
     * under {@code lambda} and weighted as the built-in step weights it ({@link
     * PolicyDatasetRecord#of}). A sample without a response text or without a finite score for
     * every constraint λ names is left out (it cannot be trained on); a prompt left with none is
     * left out. The job keeps prompt texts, not conversations: each record's messages are the one
     * user message the job scored.
     *
     * @param groups each prompt's scored samples (one prompt id per group)
     */
    public static List<PolicyDatasetRecord> records(List<List<dev.dualign.core.event.ScoredSample>> groups,
            java.util.Map<String, Double> lambda, double beta) {
        List<PolicyDatasetRecord> out = new ArrayList<>();
        for (List<dev.dualign.core.event.ScoredSample> group : groups) {
            List<PolicyDatasetRecord.Sample> usable = new ArrayList<>();
            String prompt = null;
            for (dev.dualign.core.event.ScoredSample s : group) {
                if (s.prompt() == null || s.response() == null || !scoredUnder(s, lambda)) {
                    continue;
                }
                prompt = prompt == null ? s.prompt() : prompt;
                usable.add(PolicyDatasetRecord.Sample.of(s));
            }
            if (!usable.isEmpty()) {
                out.add(PolicyDatasetRecord.of(group.get(0).promptId(),
                        List.of(dev.dualign.core.event.ChatMessage.of("user", prompt)), lambda, beta, usable));
            }
        }
        return out;
    }

    private static boolean scoredUnder(dev.dualign.core.event.ScoredSample s, java.util.Map<String, Double> lambda) {
        for (String u : lambda.keySet()) {
            Double g = s.utilities().get(u);
            if (g == null || !Double.isFinite(g)) {
                return false;
            }
        }
        return true;
    }

    /** Writes the records to {@code path} (whole or not at all); its digest and count. */
    public static DatasetFile write(Path path, Iterable<PolicyDatasetRecord> records) throws IOException {
        return Jsonl.write(path, records, FORMAT);
    }

    /**
     * The records of the file a request names at {@code path} (its URI may be one a remote trainer
     * resolves differently), after checking its format, digest and count.
     *
     * @throws IllegalArgumentException the file is not the one named, or a line is not a valid record
     */
    public static List<PolicyDatasetRecord> read(Path path, FineTuneRequest.Dataset named) throws IOException {
        if (!FORMAT.equals(named.format())) {
            throw new IllegalArgumentException("dataset " + named.uri() + " is in format '" + named.format() + "', this reader reads '"
                    + FORMAT + "'");
        }
        List<PolicyDatasetRecord> out = read(path, named.sha256());
        if (out.size() != named.records()) {
            throw new IllegalArgumentException(path + ": " + out.size() + " records, the request names " + named.records());
        }
        return out;
    }

    /**
     * The records of the file at {@code path}, after checking its bytes hash to {@code sha256}.
     *
     * @throws IllegalArgumentException the digest differs (the file changed, or is another one), or a
     *     line is not a valid record (its number and field named)
     */
    public static List<PolicyDatasetRecord> read(Path path, String sha256) throws IOException {
        String actual = Jsonl.sha256(path);
        if (!actual.equals(sha256)) {
            throw new IllegalArgumentException(path + ": sha256 is " + actual + " but " + sha256
                    + " was expected: the file changed since it was written, or is not the one named; refusing to read it");
        }
        List<PolicyDatasetRecord> out = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(path)) {
            long n = 0;
            for (String line; (line = in.readLine()) != null; ) {
                n++;
                try {
                    out.add(PolicyDatasetRecord.fromJson(EventJson.parse(line)));
                } catch (InvalidEventException | InvalidRecordException e) {
                    throw new IllegalArgumentException(path + " line " + n + ": " + e.getMessage(), e);
                }
            }
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(path + ": not UTF-8 text", e);
        }
        return out;
    }
}
