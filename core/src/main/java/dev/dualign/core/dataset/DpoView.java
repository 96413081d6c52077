package dev.dualign.core.dataset;

import dev.dualign.core.event.ChatMessage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The policy dataset seen as preference pairs for a DPO trainer (TRL's conversational format): the
 * same prompts and responses, paired within each prompt's K by a fixed rule, with the soft label
 * p_chosen = σ((s_chosen − s_rejected)/β) the record's β gives. β is in the label, so DPO's own β
 * is 1: its optimum on any pairs that cover the responses is then π_ref·exp(s/β), whichever version
 * sampled them, and it needs no weights.
 */
public final class DpoView {
    /** The {@code format} a request names for this file. */
    public static final String FORMAT = "trl-dpo-conversational";

    /** Which pairs of a prompt's K responses become rows. */
    public enum Pairing {
        /**
         * The K shuffled by a generator seeded with the seed and the prompt's id, then taken two by
         * two, (1st, 2nd), (3rd, 4th), …: ⌊K/2⌋ pairs, no response in two (an odd one out is left
         * out), so the pairs of a prompt are independent draws. The default.
         */
        DISJOINT,
        /** Every pair i < j of the K in record order: K(K−1)/2 rows, each response in K − 1 of them. */
        ALL
    }

    private DpoView() {}

    /**
     * The record's pairs under {@code rule}; the response with the higher score is {@code chosen}
     * (on a tie, the first of the pair, with p_chosen = ½). Two responses that say the same (text and
     * tool calls) carry no preference and make no pair.
     *
     * @param seed fixes {@link Pairing#DISJOINT}'s shuffle: the same records and seed give the same pairs
     */
    public static List<DpoPair> pairs(PolicyDatasetRecord r, Pairing rule, long seed) {
        List<ScoredResponse> k = r.responses();
        List<int[]> ij = new ArrayList<>();
        if (rule == Pairing.ALL) {
            for (int i = 0; i < k.size(); i++) {
                for (int j = i + 1; j < k.size(); j++) {
                    ij.add(new int[] {i, j});
                }
            }
        } else {
            int[] order = shuffled(k.size(), new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * r.promptId().hashCode())));
            for (int i = 0; i + 1 < order.length; i += 2) {
                ij.add(new int[] {order[i], order[i + 1]});
            }
        }
        List<DpoPair> out = new ArrayList<>();
        for (int[] p : ij) {
            ScoredResponse a = k.get(p[0]);
            ScoredResponse b = k.get(p[1]);
            if (a.sameAnswer(b)) {
                continue;
            }
            ScoredResponse chosen = b.score() > a.score() ? b : a;
            ScoredResponse rejected = chosen == a ? b : a;
            out.add(new DpoPair(r.promptId(), r.messages(), List.of(message(chosen)), List.of(message(rejected)), chosen.score(),
                    rejected.score(), DpoPair.sigmoid((chosen.score() - rejected.score()) / r.beta())));
        }
        return out;
    }

    /** Writes the pairs of every record, in record order, to {@code path} (whole or not at all). */
    public static DatasetFile write(Path path, Iterable<PolicyDatasetRecord> records, Pairing rule, long seed) throws IOException {
        Iterable<DpoPair> rows = () -> new java.util.Iterator<>() {
            private final java.util.Iterator<PolicyDatasetRecord> in = records.iterator();
            private java.util.Iterator<DpoPair> current = java.util.Collections.emptyIterator();

            @Override
            public boolean hasNext() {
                while (!current.hasNext() && in.hasNext()) {
                    current = pairs(in.next(), rule, seed).iterator();
                }
                return current.hasNext();
            }

            @Override
            public DpoPair next() {
                if (!hasNext()) {
                    throw new java.util.NoSuchElementException();
                }
                return current.next();
            }
        };
        return Jsonl.write(path, rows, FORMAT);
    }

    private static ChatMessage message(ScoredResponse r) {
        return new ChatMessage("assistant", r.text(), null, r.toolCalls(), null);
    }

    /** 0 … n−1 in a Fisher–Yates order drawn from {@code rng}. */
    private static int[] shuffled(int n, SplittableRandom rng) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }
}
