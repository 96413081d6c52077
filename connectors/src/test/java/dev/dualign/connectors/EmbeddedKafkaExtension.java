package dev.dualign.connectors;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One real embedded KRaft broker per test class:
 * {@code @RegisterExtension static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();}
 */
public final class EmbeddedKafkaExtension implements BeforeAllCallback, AfterAllCallback {
    private EmbeddedKafka kafka;

    @Override
    public void beforeAll(ExtensionContext context) {
        kafka = EmbeddedKafka.start(null);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (kafka != null) {
            kafka.close();
            kafka = null;
        }
    }

    public String bootstrapServers() {
        if (kafka == null) {
            throw new IllegalStateException("the embedded broker is not running (register the extension as static)");
        }
        return kafka.bootstrapServers();
    }

    /** Default settings pointing at this broker, with a topic prefix of the test's own. */
    public KafkaSettings settings(String topicPrefix) {
        return KafkaSettings.defaults().withBootstrapServers(bootstrapServers()).withTopicPrefix(topicPrefix);
    }
}
