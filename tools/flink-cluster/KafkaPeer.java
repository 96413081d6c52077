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
 * java -cp kafka-clients.jar KafkaPeer.java produce   BOOTSTRAP TOPIC COUNT FIRST_ID VERSION [PER_SECOND [PROMPTS]]
 * java -cp kafka-clients.jar KafkaPeer.java prompts   BOOTSTRAP TOPIC COUNT FIRST_ID [PER_SECOND] (prompts q{FIRST_ID}...)
 * java -cp kafka-clients.jar KafkaPeer.java oversized BOOTSTRAP TOPIC VERSION                 (2 MiB of garbage, a 10,000-word response)
 * java -cp kafka-clients.jar KafkaPeer.java count     BOOTSTRAP TOPIC EXPECTED TIMEOUT_S      (distinct record values)
 * java -cp kafka-clients.jar KafkaPeer.java ids       BOOTSTRAP TOPIC FIRST_ID COUNT TIMEOUT_S (r{FIRST_ID}... each exactly once)
 * java -cp kafka-clients.jar KafkaPeer.java answers   BOOTSTRAP PREFIX COUNT TIMEOUT_S        (prompts answered once, answers scored once)
 * java -cp kafka-clients.jar KafkaPeer.java steps     BOOTSTRAP TOPIC                         (dual steps 0, 1, 2, ... each once)
 * java -cp kafka-clients.jar KafkaPeer.java dump      BOOTSTRAP TOPIC                         (every committed value)
 * </pre>
 */
public final class KafkaPeer {
    private static final String[] TOPICS = {"sleep", "money", "work", "family", "health", "my bank", "my boss", "exams"};
    private static final String[] OPENERS = {"i cannot stop worrying about", "how do i deal with", "what should i do about",
            "i feel stuck with", "help me think about", "i keep failing at"};
    private static final String[] ENDINGS = {"", " today", " at night", " again", " lately"};

    /** 240 distinct prompts: the fine-tuner makes one preference pair per distinct prompt. */
    static String prompt(int k) {
        return OPENERS[k % OPENERS.length] + " " + TOPICS[(k / OPENERS.length) % TOPICS.length]
                + ENDINGS[(k / (OPENERS.length * TOPICS.length)) % ENDINGS.length];
    }
    private static final String[] GOOD = {"that sounds hard", "let us take a breath", "you could talk to someone",
            "one step at a time", "try a short walk"};
    private static final String[] BAD = {"just ignore it", "nobody cares", "do something reckless", "that is stupid"};

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "produce" -> produce(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    Long.parseLong(args[5]), args.length > 6 ? Integer.parseInt(args[6]) : 0,
                    args.length > 7 ? Integer.parseInt(args[7]) : Integer.MAX_VALUE);
            case "prompts" -> prompts(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    args.length > 5 ? Integer.parseInt(args[5]) : 0);
            case "oversized" -> oversized(args[1], args[2], Long.parseLong(args[3]));
            case "ids" -> System.exit(ids(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    Integer.parseInt(args[5])));
            case "answers" -> System.exit(answers(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4])));
            case "steps" -> System.exit(steps(args[1], args[2]));
            case "count" -> System.exit(count(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4])));
            case "dump" -> dump(args[1], args[2]);
            default -> throw new IllegalArgumentException("unknown command " + args[0]);
        }
    }

    static KafkaProducer<String, String> producer(String bootstrap) {
        return new KafkaProducer<>(producerProps(bootstrap), new StringSerializer(), new StringSerializer());
    }

    static Properties producerProps(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(4 << 20));
        // a producer that outlives a broker outage of a minute or two (idempotent: no duplicates on retry)
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "300000");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "300000");
        return p;
    }

    /**
     * Responses r{firstId}... of one version, two per prompt, over at most {@code prompts} prompts; with
     * perSecond > 0 spread over time, so a failure can land mid-stream.
     */
    static void produce(String bootstrap, String topic, int count, int firstId, long version, int perSecond, int prompts)
            throws Exception {
        try (KafkaProducer<String, String> producer = producer(bootstrap)) {
            Random r = new Random(firstId);
            long start = System.nanoTime();
            for (int i = firstId; i < firstId + count; i++) {
                pace(start, i - firstId, perSecond);
                int k = (i / 2) % prompts;
                String promptId = "p" + k;
                String prompt = prompt(k);
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

    /** Waits until the k-th record is due at perSecond records a second (0: no wait). */
    private static void pace(long start, int k, int perSecond) throws InterruptedException {
        if (perSecond > 0) {
            long wait = start + k * 1_000_000_000L / perSecond - System.nanoTime();
            if (wait > 0) {
                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            }
        }
    }

    /** Prompts q{firstId}... for the policy server's Kafka loop. */
    static void prompts(String bootstrap, String topic, int count, int firstId, int perSecond) throws Exception {
        try (KafkaProducer<String, String> producer = producer(bootstrap)) {
            long start = System.nanoTime();
            for (int i = firstId; i < firstId + count; i++) {
                pace(start, i - firstId, perSecond);
                String json = String.format(Locale.ROOT, "{\"schema\":1,\"id\":\"q%d\",\"prompt\":\"%s\",\"timestamp\":%d}",
                        i, prompt(i), System.currentTimeMillis());
                producer.send(new ProducerRecord<>(topic, "q" + i, json));
            }
            producer.flush();
        }
        System.out.println("produced " + count + " prompts to " + topic);
    }

    /** A 2 MiB record that is not JSON, and a well-formed response of 10,000 words. */
    static void oversized(String bootstrap, String topic, long version) throws Exception {
        byte[] noise = new byte[2 << 20];
        new Random(7).nextBytes(noise);
        String words = "word ".repeat(10_000).trim();
        String json = String.format(Locale.ROOT, "{\"schema\":1,\"id\":\"long-1\",\"promptId\":\"long\",\"prompt\":\"tell me more\","
                + "\"response\":\"%s\",\"policyVersion\":%d,\"logprob\":-5.0,\"refLogprob\":-5.0,\"source\":\"policy\","
                + "\"timestamp\":%d}", words, version, System.currentTimeMillis());
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerProps(bootstrap), new StringSerializer(),
                new org.apache.kafka.common.serialization.ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(topic, "garbage", noise)).get();
            producer.send(new ProducerRecord<>(topic, "long", json.getBytes(java.nio.charset.StandardCharsets.UTF_8))).get();
        }
        System.out.println("produced a " + noise.length + "-byte garbage record and a " + json.length()
                + "-byte response of 10,000 words to " + topic);
    }

    private static final java.util.regex.Pattern ID = java.util.regex.Pattern.compile("[{,]\"id\":\"([^\"]*)\"");
    private static final java.util.regex.Pattern PROMPT_ID = java.util.regex.Pattern.compile("\"promptId\":\"([^\"]*)\"");
    private static final java.util.regex.Pattern STEP = java.util.regex.Pattern.compile("\"step\":(\\d+)");

    private static String field(java.util.regex.Pattern p, String json) {
        java.util.regex.Matcher m = p.matcher(json);
        return m.find() ? m.group(1) : null;
    }

    /** How often each id occurs among the committed records of a topic. */
    static java.util.Map<String, Integer> idCounts(List<String> values) {
        java.util.Map<String, Integer> n = new java.util.HashMap<>();
        for (String v : values) {
            String id = field(ID, v);
            if (id != null) {
                n.merge(id, 1, Integer::sum);
            }
        }
        return n;
    }

    /** Each of r{first}..r{first+count-1} exactly once; waits up to timeoutS for the last of them. */
    static int ids(String bootstrap, String topic, int first, int count, int timeoutS) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutS * 1000L;
        while (true) {
            java.util.Map<String, Integer> n = idCounts(readAll(bootstrap, topic, -1, 20_000));
            List<String> missing = new ArrayList<>();
            List<String> twice = new ArrayList<>();
            for (int i = first; i < first + count; i++) {
                int k = n.getOrDefault("r" + i, 0);
                if (k == 0) {
                    missing.add("r" + i);
                } else if (k > 1) {
                    twice.add("r" + i + "×" + k);
                }
            }
            if (!twice.isEmpty()) {
                System.out.println(topic + ": duplicated ids " + head(twice));
                return 1;
            }
            if (missing.isEmpty()) {
                System.out.println(topic + ": r" + first + "..r" + (first + count - 1) + " each exactly once");
                return 0;
            }
            if (System.currentTimeMillis() > deadline) {
                System.out.println(topic + ": " + missing.size() + " ids missing after " + timeoutS + " s: " + head(missing));
                return 1;
            }
            Thread.sleep(2000);
        }
    }

    /**
     * Every prompt {prefix}0..{prefix}{count-1} answered exactly once by the policy (source "policy") on
     * dualign.responses, and each of those answers exactly once on dualign.scored.
     */
    static int answers(String bootstrap, String prefix, int count, int timeoutS) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutS * 1000L;
        String problem;
        do {
            java.util.Map<String, List<String>> answers = new java.util.HashMap<>();
            for (String v : readAll(bootstrap, "dualign.responses", -1, 20_000)) {
                String pid = field(PROMPT_ID, v);
                if (pid != null && pid.startsWith(prefix) && v.contains("\"source\":\"policy\"")) {
                    answers.computeIfAbsent(pid, k -> new ArrayList<>()).add(field(ID, v));
                }
            }
            java.util.Map<String, Integer> scored = idCounts(readAll(bootstrap, "dualign.scored", -1, 20_000));
            List<String> unanswered = new ArrayList<>();
            List<String> twice = new ArrayList<>();
            List<String> unscored = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                List<String> a = answers.getOrDefault(prefix + i, List.of());
                if (a.isEmpty()) {
                    unanswered.add(prefix + i);
                } else if (a.size() > 1) {
                    twice.add(prefix + i + "×" + a.size());
                } else {
                    int k = scored.getOrDefault(a.get(0), 0);
                    if (k != 1) {
                        (k == 0 ? unscored : twice).add(a.get(0) + (k > 1 ? "×" + k + " scored" : ""));
                    }
                }
            }
            if (!twice.isEmpty()) {
                System.out.println("duplicated: " + head(twice));
                return 1;
            }
            if (unanswered.isEmpty() && unscored.isEmpty()) {
                System.out.println(count + " prompts each answered once, each answer scored once");
                return 0;
            }
            problem = unanswered.size() + " prompts unanswered (" + head(unanswered) + "), " + unscored.size()
                    + " answers unscored (" + head(unscored) + ")";
            Thread.sleep(2000);
        } while (System.currentTimeMillis() < deadline);
        System.out.println("after " + timeoutS + " s: " + problem);
        return 1;
    }

    /** The controller's committed updates carry steps 0, 1, 2, ... in order, none twice: λ never rewound. */
    static int steps(String bootstrap, String topic) {
        List<Long> steps = new ArrayList<>();
        for (String v : readAll(bootstrap, topic, -1, 20_000)) {
            String s = field(STEP, v);
            if (s != null) {
                steps.add(Long.parseLong(s));
            }
        }
        for (int i = 0; i < steps.size(); i++) {
            if (steps.get(i) != i) {
                System.out.println(topic + ": steps " + steps + " are not 0, 1, 2, ... each once");
                return 1;
            }
        }
        System.out.println(topic + ": steps " + steps);
        return 0;
    }

    private static String head(List<String> l) {
        return l.size() <= 10 ? l.toString() : l.subList(0, 10) + " and " + (l.size() - 10) + " more";
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
