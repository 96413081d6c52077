import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * An independent Kafka client for the cluster check: nothing of Dualign on its class path, only
 * kafka-clients. It writes responses in the documented JSON contract and reads the job's outputs
 * the way an outside consumer would (read_committed).
 *
 * <pre>
 * java -cp kafka-clients.jar KafkaPeer.java produce BOOTSTRAP TOPIC COUNT FIRST_ID VERSION
 * java -cp kafka-clients.jar KafkaPeer.java count   BOOTSTRAP TOPIC EXPECTED TIMEOUT_S   (distinct record values)
 * java -cp kafka-clients.jar KafkaPeer.java dump    BOOTSTRAP TOPIC                      (every committed value)
 * </pre>
 */
public final class KafkaPeer {
    private static final String[] TOPICS = {"sleep", "money", "work", "family", "health"};
    private static final String[] GOOD = {"that sounds hard", "let us take a breath", "you could talk to someone",
            "one step at a time", "try a short walk"};
    private static final String[] BAD = {"just ignore it", "nobody cares", "do something reckless", "that is stupid"};

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "produce" -> produce(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    Long.parseLong(args[5]));
            case "count" -> System.exit(count(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4])));
            case "dump" -> dump(args[1], args[2]);
            default -> throw new IllegalArgumentException("unknown command " + args[0]);
        }
    }

    static void produce(String bootstrap, String topic, int count, int firstId, long version) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            Random r = new Random(firstId);
            for (int i = firstId; i < firstId + count; i++) {
                String promptId = "p" + (i / 2);
                String prompt = "i cannot stop worrying about " + TOPICS[(i / 2) % TOPICS.length];
                String response = (r.nextBoolean() ? GOOD[r.nextInt(GOOD.length)] : BAD[r.nextInt(BAD.length)]);
                double lp = -1 - 4 * r.nextDouble();
                String json = String.format(Locale.ROOT, "{\"schema\":1,\"id\":\"r%d\",\"promptId\":\"%s\",\"prompt\":\"%s\","
                        + "\"response\":\"%s\",\"policyVersion\":%d,\"logprob\":%.4f,\"refLogprob\":%.4f,"
                        + "\"source\":\"policy\",\"timestamp\":%d}", i, promptId, prompt, response, version, lp,
                        lp - 0.1, System.currentTimeMillis());
                producer.send(new ProducerRecord<>(topic, promptId, json));
            }
            // and one malformed record, which the job must dead-letter
            producer.send(new ProducerRecord<>(topic, "bad" + firstId, "{\"schema\":1,\"id\":\"broken\""));
            producer.flush();
        }
        System.out.println("produced " + count + " responses (+1 malformed) to " + topic);
    }

    static KafkaConsumer<String, String> consumer(String bootstrap) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    static List<String> readAll(String bootstrap, String topic, int expected, long timeoutMs) {
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer(bootstrap)) {
            List<TopicPartition> parts = c.partitionsFor(topic).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (System.currentTimeMillis() < deadline && (expected < 0 || values.size() < expected)) {
                for (ConsumerRecord<String, String> rec : c.poll(Duration.ofMillis(500))) {
                    values.add(rec.value());
                }
                if (expected < 0 && c.assignment().stream().allMatch(tp -> c.position(tp) >= c.endOffsets(List.of(tp)).get(tp))) {
                    break;
                }
            }
        }
        return values;
    }

    static int count(String bootstrap, String topic, int expected, int timeoutS) {
        List<String> values = readAll(bootstrap, topic, expected, timeoutS * 1000L);
        Set<String> distinct = new HashSet<>(values);
        System.out.println(topic + ": " + values.size() + " committed records, " + distinct.size() + " distinct");
        return values.size() == expected && distinct.size() == expected ? 0 : 1;
    }

    static void dump(String bootstrap, String topic) {
        readAll(bootstrap, topic, -1, 20_000).forEach(System.out::println);
    }
}
