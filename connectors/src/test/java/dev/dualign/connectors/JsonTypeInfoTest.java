package dev.dualign.connectors;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.event.Event;
import dev.dualign.core.event.EventsRoundTripTest;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

class JsonTypeInfoTest {
    @Test
    @SuppressWarnings({"unchecked", "rawtypes"})
    void everyEventSurvivesBothSerializers() throws Exception {
        for (Event e : EventsRoundTripTest.examples()) {
            for (JsonTypeInfo info : new JsonTypeInfo[] {JsonTypeInfo.forEvent(e.getClass()), JsonTypeInfo.forRecord(e.getClass())}) {
                TypeSerializer<Event> ser = info.createSerializer(new SerializerConfigImpl());
                DataOutputSerializer out = new DataOutputSerializer(256);
                ser.serialize(e, out);
                Event back = ser.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
                assertThat(back).as("%s via %s", e.getClass().getSimpleName(), info).isEqualTo(e);
                // and the snapshot restores an equal serializer (state compatibility across restarts)
                var snap = ser.snapshotConfiguration();
                DataOutputSerializer snapOut = new DataOutputSerializer(64);
                snap.writeSnapshot(snapOut);
                var restored = ser.snapshotConfiguration().getClass().getDeclaredConstructor().newInstance();
                restored.readSnapshot(snap.getCurrentVersion(), new DataInputDeserializer(snapOut.getCopyOfBuffer()),
                        getClass().getClassLoader());
                assertThat(restored.restoreSerializer()).isEqualTo(ser);
            }
        }
    }
}
