package dev.dualign.core.config;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The one spelling of enum constants in configuration and event JSON: lower case, {@code _} as
 * {@code -} ({@code ONE_SHOT} is {@code one-shot}), and the lookup back that names the valid keys.
 */
public final class EnumKeys {
    private EnumKeys() {}

    public static String key(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The constant of {@code type} spelled {@code key}; an {@link IllegalArgumentException} naming the valid keys. */
    public static <E extends Enum<E>> E byKey(Class<E> type, String key) {
        for (E e : type.getEnumConstants()) {
            if (key(e).equals(key)) {
                return e;
            }
        }
        throw new IllegalArgumentException("must be one of " + keys(type) + ", got '" + key + "'");
    }

    /** Every key of {@code type}, comma-separated. */
    public static String keys(Class<? extends Enum<?>> type) {
        return Arrays.stream(type.getEnumConstants()).map(EnumKeys::key).collect(Collectors.joining(", "));
    }
}
