package dev.dualign.core.dataset;

/**
 * A dataset record that cannot be written or read. The message names the field at fault (e.g.
 * {@code responses[2].logprob}), so a producer or a trainer's operator sees what to fix.
 */
public class InvalidRecordException extends IllegalArgumentException {
    private final String field;

    public InvalidRecordException(String field, String message) {
        super(field == null ? message : "field '" + field + "': " + message);
        this.field = field;
    }

    /** The field at fault, or null when the whole record is. */
    public String field() {
        return field;
    }

    /** The same fault as one of a field under {@code path} (an element of a list). */
    static InvalidRecordException under(String path, String field, String message) {
        return new InvalidRecordException(field == null ? path : path + "." + field,
                message.replaceFirst("^field '[^']*': ", ""));
    }
}
