package dev.dualign.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.serving.ServingOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every key can come from the file, the environment or --set, in that order of precedence; secrets are never printed. */
class ConfigFileTest {
    @TempDir
    Path dir;

    ConfigFile options(String yaml, String... sets) throws Exception {
        ConfigFile f = new ConfigFile();
        f.path = Files.writeString(dir.resolve("c-" + System.nanoTime() + ".yaml"), yaml);
        f.sets = List.of(sets);
        return f;
    }

    @Test
    void theEnvironmentOverridesTheFileAndSetOverridesBoth() throws Exception {
        ConfigFile f = options("server:\n  port: 1000\n  max-tokens: 7\n", "server.port=3000", "constraints.harmless=0.4");
        Config c = f.load(Map.of("DUALIGN_SERVER_PORT", "2000", "DUALIGN_SERVER_MAX_TOKENS", "9", "DUALIGN_JAVA_OPTS", "-Xmx1g"));
        assertThat(c.get(ServingOptions.PORT)).isEqualTo(3000);
        assertThat(c.get(ServingOptions.MAX_TOKENS)).isEqualTo(9); // DUALIGN_JAVA_OPTS is the launcher's, not a key
        assertThat(c.withPrefix("constraints.")).containsEntry("harmless", "0.4");
    }

    @Test
    void aBadKeyOrValueFromAnySourceFailsNamingIt() throws Exception {
        assertThatThrownBy(() -> options("{}\n", "server.prot=1").load(Map.of())).isInstanceOf(ConfigException.class)
                .hasMessageContaining("server.prot");
        assertThatThrownBy(() -> options("{}\n", "server.port").load(Map.of())).hasMessageContaining("--set")
                .hasMessageContaining("KEY=VALUE");
        assertThatThrownBy(() -> options("{}\n").load(Map.of("DUALIGN_SERVER_PORT", "eighty"))).hasMessageContaining("server.port");
    }

    @Test
    void theEffectiveConfigurationIsPrintedWithSecretsMasked() throws Exception {
        Config c = options("server:\n  admin-token: s3cret\n  upstream:\n    api-key-env: MY_KEY\nkafka:\n  properties:\n"
                + "    sasl.jaas.config: \"user=u password=p\"\n", "server.port=0").load(Map.of());
        String line = ConfigFile.describe(c);
        assertThat(line).contains("server.port=0").contains("server.admin-token=****")
                .contains("kafka.properties.sasl.jaas.config=****").contains("server.upstream.api-key-env=MY_KEY")
                .doesNotContain("s3cret").doesNotContain("password=p");
        // a key at its default is not shown, and "tokens" is not a token
        assertThat(ConfigFile.describe(options("server:\n  max-tokens: 40\n  port: 8080\n", "server.max-tokens=12").load(Map.of())))
                .contains("server.max-tokens=12").doesNotContain("server.port");
    }
}
