package dev.dualign.serving;

import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.serving.PolicyServer.Answer;
import dev.dualign.serving.PolicyServer.Ask;
import dev.dualign.serving.PolicyServer.Prompt;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where an answer is produced: checks and encodes prompts, runs one batched generation on a
 * version while owning its model, and turns each generated row into an {@link Answer}.
 */
final class Generator {
    private final WordTokenizer tokenizer;
    private final ServerSettings settings;
    private final ServedPolicy reference;
    private final Map<Long, AtomicLong> answered = new ConcurrentHashMap<>();
    private final AtomicLong sequence = new AtomicLong();

    Generator(WordTokenizer tokenizer, ServerSettings settings, ServedPolicy reference) {
        this.tokenizer = tokenizer;
        this.settings = settings;
        this.reference = reference;
    }

    /** Responses answered per version since start. */
    Map<Long, Long> answeredPerVersion() {
        Map<Long, Long> m = new java.util.TreeMap<>();
        answered.forEach((v, n) -> m.put(v, n.get()));
        return m;
    }

    /** The longest prompt, in words, that leaves room for a response. */
    int maxPromptWords() {
        return reference.lm.config().maxLen() - 3 - settings.maxTokens();
    }

    /** Checks a prompt; the message says what is wrong, or null when it can be answered. */
    String problem(String text) {
        return text == null || text.isBlank() ? "prompt is empty" : problem(tokenizer.encode(text));
    }

    private String problem(int[] ids) {
        if (ids.length == 0) {
            return "prompt is empty";
        }
        if (ids.length > maxPromptWords()) {
            return "prompt has " + ids.length + " words; at most " + maxPromptWords() + " fit";
        }
        return null;
    }

    /** Each prompt's word ids, encoded once for both the check and the generation. */
    int[][] encode(List<Prompt> prompts) {
        int[][] ids = new int[prompts.size()][];
        for (int i = 0; i < ids.length; i++) {
            String text = prompts.get(i).text();
            if (text == null || text.isBlank()) {
                throw new IllegalArgumentException("prompt is empty");
            }
            ids[i] = tokenizer.encode(text);
            String why = problem(ids[i]);
            if (why != null) {
                throw new IllegalArgumentException(why);
            }
        }
        return ids;
    }

    /** Refuses an ask that wants fewer than 1 or more than {@code server.max-tokens} words. */
    void checkMaxTokens(Ask a) {
        if (a.maxTokens() < 1 || a.maxTokens() > settings.maxTokens()) {
            throw new IllegalArgumentException("max tokens must be in [1, " + settings.maxTokens() + "], got " + a.maxTokens());
        }
    }

    /**
     * Answers the asks at {@code idx} with {@code p} in one batched generation, into {@code out} at
     * the same indices, each tagged with {@code source}; {@code listener} hears each word by ask index.
     */
    void generate(ServedPolicy p, List<Ask> asks, int[][] promptIds, List<Integer> idx, Answer[] out,
            String source, PolicyLm.TokenListener listener) {
        if (idx.isEmpty()) {
            return;
        }
        List<int[]> ids = new ArrayList<>(idx.size());
        List<Sampling> rows = new ArrayList<>(idx.size());
        for (int i : idx) {
            ids.add(promptIds[i]);
            Ask a = asks.get(i);
            rows.add(new Sampling(a.temperature(), a.topP(), a.maxTokens(), 0));
        }
        long seed = settings.seed() * 1_000_003L + sequence.incrementAndGet();
        PolicyLm.TokenListener mapped = listener == null ? null : (row, tok, lp) -> {
            if (tok != WordTokenizer.PAD) { // as decode(): a pad is no word
                listener.token(idx.get(row), tok, lp);
            }
        };
        List<Generation> gens = generateOwned(p.lm, ids, rows, seed, mapped);
        long now = System.currentTimeMillis();
        for (int k = 0; k < idx.size(); k++) {
            Prompt pr = asks.get(idx.get(k)).prompt();
            Generation g = gens.get(k);
            List<String> words = new ArrayList<>(g.tokens().length);
            double[] lps = new double[g.tokens().length];
            for (int t = 0; t < g.tokens().length; t++) {
                if (g.tokens()[t] != WordTokenizer.PAD) { // as decode(): a pad is no word
                    lps[words.size()] = g.tokenLogprobs()[t];
                    words.add(tokenizer.word(g.tokens()[t]));
                }
            }
            ResponseEvent e = new ResponseEvent(UUID.randomUUID().toString(), pr.id(), pr.text(), tokenizer.decode(g.tokens()),
                    p.version, Math.min(0, g.logprob()), Math.min(0, g.refLogprob()), source, now, pr.label(), pr.messages(), null);
            out[idx.get(k)] = new Answer(e, List.copyOf(words), java.util.Arrays.copyOf(lps, words.size()), g.stopped(),
                    asks.get(idx.get(k)).routeKey());
        }
        answered.computeIfAbsent(p.version, v -> new AtomicLong()).addAndGet(idx.size());
    }

    /**
     * Generates with {@code lm} scored against the reference while owning both models: a model is
     * used by one thread at a time (HTTP workers, the Kafka thread and warm-ups share them). Locks are
     * always taken policy first, reference second, so two generations cannot deadlock.
     */
    List<Generation> generateOwned(PolicyLm lm, List<int[]> ids, Sampling s) {
        return generateOwned(lm, ids, java.util.Collections.nCopies(ids.size(), s), s.seed(), null);
    }

    private List<Generation> generateOwned(PolicyLm lm, List<int[]> ids, List<Sampling> rows, long seed,
            PolicyLm.TokenListener listener) {
        synchronized (lm) {
            synchronized (reference.lm) {
                return lm.generate(ids, rows, seed, reference.lm, listener);
            }
        }
    }
}
