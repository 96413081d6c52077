package dev.dualign.connectors.flink;

import dev.dualign.core.event.Event;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.Events;
import java.io.IOException;
import java.util.Objects;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Flink type information for records that travel between operators and in state as their JSON
 * bytes. {@link #forEvent} reads with the event's strict reader; {@link #forRecord} with Jackson
 * binding, about twice as fast, for records already validated when they entered the job (their
 * compact constructors still run). This avoids Kryo,
 * which cannot rebuild the records' unmodifiable maps; copies are free because records are
 * immutable.
 */
public final class JsonTypeInfo<T> extends TypeInformation<T> {
    private static final long serialVersionUID = 1L;
    private final Class<T> type;
    private final boolean event;

    private JsonTypeInfo(Class<T> type, boolean event) {
        this.type = Objects.requireNonNull(type);
        this.event = event;
    }

    /** An internal record, read by Jackson binding. */
    public static <T> JsonTypeInfo<T> forRecord(Class<T> type) {
        return new JsonTypeInfo<>(type, false);
    }

    /** A Dualign event, read by its strict reader. */
    public static <T extends Event> JsonTypeInfo<T> forEvent(Class<T> type) {
        return new JsonTypeInfo<>(type, true);
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
        return new Serializer<>(type, event);
    }

    @Override
    public String toString() {
        return (event ? "Event<" : "Json<") + type.getSimpleName() + ">";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof JsonTypeInfo<?> j && j.type.equals(type) && j.event == event;
    }

    @Override
    public int hashCode() {
        return type.hashCode();
    }

    @Override
    public boolean canEqual(Object o) {
        return o instanceof JsonTypeInfo;
    }

    /** Length-prefixed JSON. */
    public static final class Serializer<T> extends TypeSerializer<T> {
        private static final long serialVersionUID = 1L;
        private final Class<T> type;
        private final boolean event;

        Serializer(Class<T> type, boolean event) {
            this.type = type;
            this.event = event;
        }

        @Override
        public boolean isImmutableType() {
            return true;
        }

        @Override
        public TypeSerializer<T> duplicate() {
            return this;
        }

        @Override
        public T createInstance() {
            return null;
        }

        @Override
        public T copy(T from) {
            return from;
        }

        @Override
        public T copy(T from, T reuse) {
            return from;
        }

        @Override
        public int getLength() {
            return -1;
        }

        @Override
        public void serialize(T record, DataOutputView target) throws IOException {
            byte[] json = EventJson.mapper().writeValueAsBytes(record);
            target.writeInt(json.length);
            target.write(json);
        }

        @Override
        public T deserialize(DataInputView source) throws IOException {
            byte[] json = new byte[source.readInt()];
            source.readFully(json);
            return event ? Events.parse(type, json) : EventJson.mapper().readValue(json, type);
        }

        @Override
        public T deserialize(T reuse, DataInputView source) throws IOException {
            return deserialize(source);
        }

        @Override
        public void copy(DataInputView source, DataOutputView target) throws IOException {
            int len = source.readInt();
            target.writeInt(len);
            target.write(source, len);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Serializer<?> s && s.type.equals(type) && s.event == event;
        }

        @Override
        public int hashCode() {
            return type.hashCode();
        }

        @Override
        public TypeSerializerSnapshot<T> snapshotConfiguration() {
            return new Snapshot<>(type, event);
        }
    }

    /** Records the class and the reader; JSON ignoring unknown fields keeps older state readable. */
    public static final class Snapshot<T> implements TypeSerializerSnapshot<T> {
        private Class<T> type;
        private boolean event;

        public Snapshot() {}

        Snapshot(Class<T> type, boolean event) {
            this.type = type;
            this.event = event;
        }

        @Override
        public int getCurrentVersion() {
            return 1;
        }

        @Override
        public void writeSnapshot(DataOutputView out) throws IOException {
            out.writeUTF(type.getName());
            out.writeBoolean(event);
        }

        @Override
        @SuppressWarnings("unchecked")
        public void readSnapshot(int version, DataInputView in, ClassLoader loader) throws IOException {
            String name = in.readUTF();
            event = in.readBoolean();
            try {
                type = (Class<T>) Class.forName(name, false, loader);
            } catch (ClassNotFoundException e) {
                throw new IOException("state class " + name + " not found", e);
            }
        }

        @Override
        public TypeSerializer<T> restoreSerializer() {
            return new Serializer<>(type, event);
        }

        @Override
        public TypeSerializerSchemaCompatibility<T> resolveSchemaCompatibility(TypeSerializerSnapshot<T> old) {
            return old instanceof Snapshot<T> s && s.type.equals(type)
                    ? TypeSerializerSchemaCompatibility.compatibleAsIs()
                    : TypeSerializerSchemaCompatibility.incompatible();
        }
    }
}
