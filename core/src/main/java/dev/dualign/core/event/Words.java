package dev.dualign.core.event;

import java.util.Optional;

/**
 * Whether a response is short enough to score. A scorer reads only its first tokens, so a response
 * far longer than any chatbot answer (a runaway generation, an abuse of the API) would be scored on
 * a prefix and counted in the estimate as if it had been read: it is dead-lettered instead.
 */
public final class Words {
    private Words() {}

    /** Whitespace-separated words in {@code text}, counted without allocating. */
    public static int count(String text) {
        int n = 0;
        boolean inWord = false;
        for (int i = 0; i < text.length(); i++) {
            boolean space = Character.isWhitespace(text.charAt(i));
            if (!space && !inWord) {
                n++;
            }
            inWord = !space;
        }
        return n;
    }

    /** Why a response cannot be scored, if its prompt and response together have more than {@code maxWords} words. */
    public static Optional<String> tooLong(String prompt, String response, int maxWords) {
        int p = count(prompt);
        int r = count(response);
        if (p + r <= maxWords) {
            return Optional.empty();
        }
        return Optional.of("too long to score: prompt " + p + " words + response " + r + " words > scoring.max-words "
                + maxWords + " (a scorer would read only a prefix)");
    }
}
