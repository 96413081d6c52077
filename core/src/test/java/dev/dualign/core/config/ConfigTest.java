package dev.dualign.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigTest {
    static final ConfigOption<Integer> PARTITIONS = ConfigOption.integer("kafka.partitions", 1).check(v -> v >= 1, "an integer ≥ 1");
    static final ConfigOption<String> SERVERS = ConfigOption.string("kafka.bootstrap.servers", "");
    static final ConfigOption<String> DELIVERY = ConfigOption.choice("kafka.delivery", "exactly-once", "exactly-once", "at-least-once");
    static final List<ConfigOption<?>> KNOWN = List.of(PARTITIONS, SERVERS, DELIVERY);
    static final List<String> PASS = List.of("kafka.properties.");

    @TempDir
    Path dir;

    private Config load(String yaml) throws IOException {
        Path f = dir.resolve("c.yaml");
        Files.writeString(f, yaml);
        return Config.load(f, KNOWN, PASS);
    }

    @Test
    void shouldReadNestedAndDottedKeysAndPassThroughClientProperties() throws IOException {
        Config c = load("""
                kafka:
                  bootstrap.servers: host:9092
                  partitions: 3
                  properties:
                    security.protocol: SASL_SSL
                    sasl.mechanism: PLAIN
                """);
        assertThat(c.get(SERVERS)).isEqualTo("host:9092");
        assertThat(c.get(PARTITIONS)).isEqualTo(3);
        assertThat(c.get(DELIVERY)).isEqualTo("exactly-once");
        assertThat(c.withPrefix("kafka.properties.")).containsExactlyInAnyOrderEntriesOf(
                Map.of("security.protocol", "SASL_SSL", "sasl.mechanism", "PLAIN"));
    }

    @Test
    void shouldFailAtLoadNamingAnUnknownKeyWithASuggestion() {
        assertThatThrownBy(() -> load("kafka:\n  partitons: 3\n"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("kafka.partitons")
                .hasMessageContaining("unknown key")
                .hasMessageContaining("did you mean 'kafka.partitions'");
    }

    @Test
    void shouldFailAtLoadNamingTheKeyOfAnInvalidValue() {
        assertThatThrownBy(() -> load("kafka:\n  partitions: 0\n")).hasMessageContaining("kafka.partitions")
                .hasMessageContaining("≥ 1");
        assertThatThrownBy(() -> load("kafka:\n  partitions: many\n")).hasMessageContaining("kafka.partitions")
                .hasMessageContaining("integer");
        assertThatThrownBy(() -> load("kafka:\n  delivery: maybe\n")).hasMessageContaining("kafka.delivery")
                .hasMessageContaining("exactly-once");
        assertThatThrownBy(() -> load("kafka: [1, 2\n")).hasMessageContaining("not valid YAML");
    }

    @Test
    void shouldCheckOverridesToo() {
        Config c = Config.of(Map.of(), KNOWN, PASS);
        assertThat(c.with(Map.of("kafka.partitions", "4"), KNOWN, PASS).get(PARTITIONS)).isEqualTo(4);
        assertThatThrownBy(() -> c.with(Map.of("kafka.nope", "4"), KNOWN, PASS)).hasMessageContaining("kafka.nope");
    }
}
