package dev.dualign.connectors;

/**
 * The configured Kafka cluster did not answer at start-up. Commands report it in one line naming
 * the broker and exit 5, as {@code kafka topics} does; nothing has started yet.
 */
public final class KafkaUnreachableException extends IllegalStateException {
    public KafkaUnreachableException(String message, Throwable cause) {
        super(message, cause);
    }
}
