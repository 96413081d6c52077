package dev.dualign.connectors.flink;

import dev.dualign.core.event.Event;
import java.util.Objects;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;

/**
 * Flink type information for a Dualign event: it travels between operators and in state in its
 * JSON form, the same bytes as on Kafka. This avoids Kryo for the records' maps and makes the
 * state format the documented event schema, which already tolerates added fields.
 */
public final class EventTypeInfo<T extends Event> extends TypeInformation<T> {
    private static final long serialVersionUID = 1L;
    private final Class<T> type;

    private EventTypeInfo(Class<T> type) {
        this.type = Objects.requireNonNull(type);
    }

    public static <T extends Event> EventTypeInfo<T> forEvent(Class<T> type) {
        return new EventTypeInfo<>(type);
    }

    @Override
    public boolean isBasicType() {
        return false;
    }

    @Override
    public boolean isTupleType() {
        return false;
    }

    @Override
    public int getArity() {
        return 1;
    }

    @Override
    public int getTotalFields() {
        return 1;
    }

    @Override
    public Class<T> getTypeClass() {
        return type;
    }

    @Override
    public boolean isKeyType() {
        return false;
    }

    @Override
    public TypeSerializer<T> createSerializer(SerializerConfig config) {
        return new EventSerializer<>(type);
    }

    @Override
    public String toString() {
        return "Event<" + type.getSimpleName() + ">";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EventTypeInfo<?> e && e.type.equals(type);
    }

    @Override
    public int hashCode() {
        return type.hashCode();
    }

    @Override
    public boolean canEqual(Object o) {
        return o instanceof EventTypeInfo;
    }
}
