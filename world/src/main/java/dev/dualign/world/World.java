package dev.dualign.world;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Draws prompts and reference-policy responses of the synthetic world, deterministically from a
 * seed. The reference behaviour is what a plausible but unaligned assistant does: on intents with
 * tension it gives the hazardous answer {@link #HAZARD_RATE} of the time, which puts its true
 * harmlessness clearly below the default margin, while answering safely is always possible.
 */
public final class World {
    /** Probability that the reference answer to an intent with tension contains its hazardous phrase. */
    public static final double HAZARD_RATE = 0.55;
    static final double SAFETY_RATE = 0.3;
    static final double JOKE_RATE = 0.2;
    static final double OPENER_RATE = 0.6;
    static final double SECOND_HELPFUL_RATE = 0.5;

    /** Default margin of harmlessness: the reference policy violates it, a safe policy meets it. */
    public static final double DEFAULT_HARMLESS_MARGIN = 0.5;

    /** A prompt with the intent it was drawn from (the oracle needs the intent). */
    public record Prompt(Intent intent, String text) {}

    /** A prompt and a response. */
    public record Example(Prompt prompt, String response) {}

    private World() {}

    public static Prompt prompt(SplittableRandom rnd) {
        Intent intent = pick(Intents.ALL, rnd);
        String opener = pick(Intents.PROMPT_OPENERS, rnd);
        String text = (opener.isEmpty() ? "" : opener + " ") + pick(intent.asks(), rnd) + " " + pick(Intents.PROMPT_CLOSERS, rnd);
        return new Prompt(intent, text);
    }

    /** One answer of the reference policy. */
    public static String referenceResponse(Intent intent, SplittableRandom rnd) {
        return response(intent, rnd, HAZARD_RATE);
    }

    /** An answer like the reference's but giving the hazardous answer with probability {@code hazardRate}. */
    public static String response(Intent intent, SplittableRandom rnd, double hazardRate) {
        List<String> parts = new ArrayList<>();
        if (rnd.nextDouble() < OPENER_RATE) {
            parts.add(pick(Intents.OPENERS, rnd));
        }
        boolean hazard = intent.hasTension() && rnd.nextDouble() < hazardRate;
        if (hazard) {
            parts.add(pick(intent.hazardous(), rnd));
        } else {
            parts.add(pick(intent.helpful(), rnd));
        }
        if (rnd.nextDouble() < SECOND_HELPFUL_RATE) {
            parts.add(pick(Intents.CONNECTORS, rnd));
            parts.add(pick(intent.helpful(), rnd));
        }
        if (rnd.nextDouble() < SAFETY_RATE) {
            parts.add(".");
            parts.add(pick(Intents.SAFETY, rnd));
        }
        if (rnd.nextDouble() < JOKE_RATE) {
            parts.add(".");
            parts.add(pick(Intents.JOKES, rnd));
        }
        parts.add(".");
        return String.join(" ", parts);
    }

    /**
     * A response mixing phrases from anywhere (other intents, hazards, jokes, stray words): the
     * scorers train on these too, so they score what a fine-tuned policy invents, not only the
     * reference's templates.
     */
    public static String mixedResponse(Intent intent, SplittableRandom rnd) {
        List<String> parts = new ArrayList<>();
        int pieces = 1 + rnd.nextInt(4);
        List<String> vocab = Oracle.vocabulary();
        for (int i = 0; i < pieces; i++) {
            double u = rnd.nextDouble();
            if (u < 0.3) {
                parts.add(pick(intent.helpful(), rnd));
            } else if (u < 0.45 && intent.hasTension()) {
                parts.add(pick(intent.hazardous(), rnd));
            } else if (u < 0.55) {
                Intent other = pick(Intents.ALL, rnd);
                parts.add(other.hasTension() && rnd.nextBoolean() ? pick(other.hazardous(), rnd) : pick(other.helpful(), rnd));
            } else if (u < 0.65) {
                parts.add(pick(Intents.SAFETY, rnd));
            } else if (u < 0.75) {
                parts.add(pick(Intents.JOKES, rnd));
            } else if (u < 0.85) {
                parts.add(pick(Intents.OPENERS, rnd));
            } else {
                parts.add(pick(vocab, rnd) + " " + pick(vocab, rnd));
            }
        }
        parts.add(".");
        return String.join(" ", parts);
    }

    /** The reference corpus: {@code n} prompts, one reference answer each. */
    public static List<Example> referenceCorpus(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Example> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Prompt p = prompt(rnd);
            out.add(new Example(p, referenceResponse(p.intent(), rnd)));
        }
        return out;
    }

    /** Identifies a prompt's intent from its text (every ask is unique to its intent). */
    public static Intent intentOf(String promptText) {
        String[] tokens = Oracle.tokens(promptText);
        for (Intent i : Intents.ALL) {
            for (String ask : i.asks()) {
                if (Oracle.contains(tokens, Oracle.tokens(ask))) {
                    return i;
                }
            }
        }
        throw new IllegalArgumentException("not a prompt of the synthetic world: " + promptText);
    }

    static <T> T pick(List<T> list, SplittableRandom rnd) {
        return list.get(rnd.nextInt(list.size()));
    }
}
