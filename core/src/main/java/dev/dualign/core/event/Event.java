package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * A record that travels on a Dualign topic. Its key decides the partition and therefore the order
 * consumers see; its JSON form (with {@code "schema"}) is the contract outside producers code against.
 */
public interface Event {
    /** The Kafka record key: the id whose events must stay in order. */
    String key();

    /** Version of the event schema, written into every event so readers can tell versions apart. */
    @JsonProperty("schema")
    default int schema() {
        return EventJson.SCHEMA_VERSION;
    }

    default String toJson() {
        return EventJson.write(this);
    }

    default byte[] toJsonBytes() {
        return EventJson.writeBytes(this);
    }
}
