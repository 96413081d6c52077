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

    /** The JSON field at fault, or {@code null} when the record is not JSON at all. */
    public String field() {
        return field;
    }
}
