package dev.dualign.core.event;

/**
 * A record that cannot become an event. The message always names the offending field, so that a
 * dead letter or a command-line error tells the producer what to fix.
 */
public class InvalidEventException extends RuntimeException {
    private final String field;

    public InvalidEventException(String field, String message) {
        super(field == null ? message : "field '" + field + "': " + message);
        this.field = field;
    }

    public InvalidEventException(String message, Throwable cause) {
        super(message, cause);
        this.field = null;
    }

    /** {@code e} as the fault of a field under {@code path} (an element of an array, a nested object). */
    static InvalidEventException under(String path, InvalidEventException e) {
        String inner = e.field() == null ? "" : "." + e.field();
        return new InvalidEventException(path + inner, e.getMessage().replaceFirst("^field '[^']*': ", ""));
    }

    /** The JSON field at fault, or {@code null} when the record is not JSON at all. */
    public String field() {
        return field;
    }
}
