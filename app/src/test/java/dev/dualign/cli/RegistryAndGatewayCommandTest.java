package dev.dualign.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.serving.Gateway;
import dev.dualign.app.DualignOptions;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line of issues #14 and #30: `registry import scorer` publishes the fixture (TorchScript and ONNX) and refuses what
 * would not run with exit code 2 and the reason; gateway mode's configuration fails at start-up
 * naming the key.
 */
class RegistryAndGatewayCommandTest {
    static final String FIXTURE = "../fixtures/tiny-bert-scorer/";

    @Test
    void importScorerPublishesTheFixtureAndListsIt(@TempDir Path reg) {
        CliRun r = CliRun.of("registry", "import", "scorer", "--registry", reg.toString(), "--name", "harmless", "--model",
                FIXTURE + "model.pt", "--tokenizer", FIXTURE + "tokenizer.json", "--label", "harmless", "--transform", "softmax");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("published harmless version 0", "output 1 (harmless)", "transform softmax", "max length 64");
        // the same classifier as ONNX: the same options, run by the OnnxRuntime engine
        CliRun onnx = CliRun.of("registry", "import", "scorer", "--registry", reg.toString(), "--name", "harmless", "--model",
                FIXTURE + "model.onnx", "--tokenizer", FIXTURE + "tokenizer.json", "--label", "harmless", "--transform", "softmax");
        assertThat(onnx.code()).as(onnx.err()).isZero();
        assertThat(onnx.out()).contains("published harmless version 1", "(onnx)", "output 1 (harmless)", "max length 64");
        CliRun list = CliRun.of("registry", "list", "--registry", reg.toString());
        assertThat(list.code()).isZero();
        assertThat(list.out()).contains("harmless", "imported-scorer");
        CliRun bad = CliRun.of("registry", "import", "scorer", "--registry", reg.toString(), "--name", "harmless", "--model",
                FIXTURE + "model.pt", "--tokenizer", FIXTURE + "tokenizer.json", "--max-length", "100");
        assertThat(bad.code()).isEqualTo(Dualign.EXIT_BAD_INPUT);
        assertThat(bad.err()).contains("--model", "nothing was published");
        CliRun both = CliRun.of("registry", "import", "scorer", "--registry", reg.toString(), "--name", "harmless", "--model",
                FIXTURE + "model.pt", "--tokenizer", FIXTURE + "tokenizer.json", "--output", "1", "--label", "harmless");
        assertThat(both.code()).isNotZero(); // mutually exclusive
    }

    static Config config(Map<String, Object> m) {
        return Config.of(m, DualignOptions.ALL, DualignOptions.PASS_THROUGH);
    }

    @Test
    void gatewayConfigurationFailsAtStartUpNamingTheKey() {
        assertThatThrownBy(() -> ServeCommand.gatewaySettings(config(Map.of("server.backend", "upstream")), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("server.upstream.url");
        assertThatThrownBy(() -> ServeCommand.gatewaySettings(config(Map.of("server.backend", "upstream",
                "server.upstream.url", "ftp://x/v1")), Map.of())).hasMessageContaining("server.upstream.url");
        assertThatThrownBy(() -> ServeCommand.gatewaySettings(config(Map.of("server.backend", "upstream",
                "server.upstream.url", "http://chatbot:8000/v1", "server.upstream.api-key-env", "CHATBOT_KEY")), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("server.upstream.api-key-env").hasMessageContaining("CHATBOT_KEY");
        Gateway.Settings ok = ServeCommand.gatewaySettings(config(Map.of("server.backend", "upstream",
                "server.upstream.url", "http://chatbot:8000/v1", "server.upstream.api-key-env", "CHATBOT_KEY",
                "server.upstream.version", 7)), Map.of("CHATBOT_KEY", "sk-1"));
        assertThat(ok.apiKey()).isEqualTo("sk-1");
        assertThat(ok.version()).isEqualTo(7);
        assertThat(ok.upstream().toString()).isEqualTo("http://chatbot:8000/v1");
    }

    @Test
    void aSwappingGatewayIsCheckedAtStartUpNamingTheKey() {
        Map<String, Object> m = new java.util.HashMap<>(Map.of("server.backend", "upstream", "server.upstream.url",
                "http://vllm:8000/v1", "server.upstream.adapters", "vllm", "constraints.harmless", 0.5));
        Gateway.Settings gs = ServeCommand.gatewaySettings(config(m), Map.of());
        assertThatThrownBy(() -> ServeCommand.adapterSettings(config(m), gs, dev.dualign.core.control.ControlSettings.from(config(m))))
                .isInstanceOf(ConfigException.class).hasMessageContaining("server.upstream.max-loras");
        m.put("server.upstream.max-loras", 4);
        assertThat(ServeCommand.adapterSettings(config(m), gs, dev.dualign.core.control.ControlSettings.from(config(m))).replicas())
                .containsExactly(gs.upstream());
        m.put("dual.mode", "enforce");
        assertThatThrownBy(() -> ServeCommand.adapterSettings(config(m), gs, dev.dualign.core.control.ControlSettings.from(config(m))))
                .isInstanceOf(ConfigException.class).hasMessageContaining("server.upstream.adapters").hasMessageContaining("enforce");
    }

    @Test
    void aGatewayHoldingTheUpstreamsKeyMustAskItsClientsForTheirs(@TempDir Path dir) throws Exception {
        Map<String, Object> keyed = Map.of("server.backend", "upstream", "server.upstream.url", "http://chatbot:8000/v1",
                "server.upstream.api-key-env", "CHATBOT_KEY");
        Gateway.Settings gs = ServeCommand.gatewaySettings(config(keyed), Map.of("CHATBOT_KEY", "sk-1"));
        assertThatThrownBy(() -> ServeCommand.access(config(keyed), gs)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("server.client-keys-file").hasMessageContaining("upstream's key");
        // without an upstream key each client's own key goes to the upstream: no keys of ours needed
        Map<String, Object> open = Map.of("server.backend", "upstream", "server.upstream.url", "http://chatbot:8000/v1");
        assertThat(ServeCommand.access(config(open), ServeCommand.gatewaySettings(config(open), Map.of())).keys()).isNull();

        Path file = dir.resolve("secrets/keys");
        CliRun add = CliRun.of("keys", "add", "alice", "--file", file.toString(), "--rpm", "60");
        assertThat(add.code()).as(add.err()).isZero();
        String key = add.out().lines().filter(l -> l.startsWith("its key, shown once: ")).findFirst().orElseThrow()
                .substring("its key, shown once: ".length());
        assertThat(java.nio.file.Files.readString(file)).contains("alice sha256:").doesNotContain(key).contains(" 60");
        assertThat(CliRun.of("keys", "add", "alice", "--file", file.toString()).err()).contains("already has a client named alice");
        assertThat(CliRun.of("keys", "add", "bad name", "--file", file.toString()).code()).isEqualTo(Dualign.EXIT_BAD_INPUT);
        Map<String, Object> withKeys = new java.util.HashMap<>(keyed);
        withKeys.put("server.client-keys-file", file.toString());
        var access = ServeCommand.access(config(withKeys), gs);
        assertThat(access.keys().find("Bearer " + key).name()).isEqualTo("alice");

        java.nio.file.Files.writeString(dir.resolve("empty"), "# nobody\n");
        assertThatThrownBy(() -> ServeCommand.access(config(Map.of("server.client-keys-file", dir.resolve("empty").toString())), null))
                .hasMessageContaining("server.client-keys-file").hasMessageContaining("lists no client");
        assertThatThrownBy(() -> ServeCommand.access(config(Map.of("server.client-keys-file", dir.resolve("nope").toString())), null))
                .hasMessageContaining("server.client-keys-file").hasMessageContaining("cannot read");
        assertThatThrownBy(() -> ServeCommand.access(config(Map.of("server.cors-origins", "https://a.example/path")), null))
                .hasMessageContaining("server.cors-origins");
        assertThat(ServeCommand.access(config(Map.of("server.cors-origins", "https://a.example, http://b.example:8080")), null)
                .corsOrigins()).containsExactly("https://a.example", "http://b.example:8080");
    }
}
