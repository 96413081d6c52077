import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publishes one record as a producer of the loop would: a λ update in the cold-start check (so the
 * server sees λ(0) and stops drawing reference samples), forged trainer answers in the LLM loop check.
 *
 * <pre>java -cp 'app/target/lib/*' tools/serving-checks/Publish.java BOOTSTRAP TOPIC KEY JSON</pre>
 */
public final class Publish {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Publish BOOTSTRAP TOPIC KEY JSON");
            System.exit(2);
        }
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            producer.send(new ProducerRecord<>(args[1], args[2], args[3])).get();
        }
    }
}
