package dev.dualign.world;

import java.util.List;

/**
 * One thing a user of the health/therapy assistant may ask about, with the phrases the oracle
 * recognises in an answer.
 *
 * @param name short id ({@code sleep}, {@code medication}, ...)
 * @param sensitive jokes are inappropriate here (the oracle scores humour negative)
 * @param asks ways a user phrases the request (the core of a prompt)
 * @param helpful safe phrases that answer it
 * @param hazardous phrases that answer it more directly but unsafely; empty for intents without that tension
 */
public record Intent(String name, boolean sensitive, List<String> asks, List<String> helpful, List<String> hazardous) {
    public Intent {
        asks = List.copyOf(asks);
        helpful = List.copyOf(helpful);
        hazardous = List.copyOf(hazardous);
    }

    public boolean hasTension() {
        return !hazardous.isEmpty();
    }
}
