package dev.dualign.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.world.testing.TestModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every experiment's JSON says where it came from ({@code provenance}: commit, dirty, the registry's
 * and each model's digest, every parameter, the seeds) and holds no machine path.
 */
class ExperimentProvenanceTest {
    @TempDir
    Path tmp;

    @Test
    void aTinyRunRecordsCommitModelsConfigAndSeedsAndNoMachinePath() throws Exception {
        Fonts.assumeAvailable();
        Path registryDir = TestModels.registry();
        CliRun r = CliRun.of("experiment", "oneshot-bias", "--quick", "--seeds", "3,1", "--out", tmp.toString(),
                "--registry", registryDir.toString());
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode doc = new ObjectMapper().readTree(tmp.resolve("oneshot-bias.json").toFile());
        JsonNode p = doc.path("provenance");

        // the code: the commit this checkout is at, read independently here
        String head = git("rev-parse", "HEAD");
        if (head == null) {
            assertThat(p.path("commit").asText()).isEqualTo("unknown");
            assertThat(p.path("dirty").asText()).isEqualTo("unknown");
        } else {
            assertThat(p.path("commit").asText()).isEqualTo(head.strip());
            assertThat(p.path("dirty").isBoolean()).as(p.toString()).isTrue();
        }

        // the models: each one the experiment read, with its manifest's digest as the registry has it
        ModelRegistry registry = new ModelRegistry(registryDir);
        assertThat(p.path("registry").asText()).matches("[0-9a-f]{64}");
        Set<String> names = new HashSet<>();
        for (JsonNode m : p.path("models")) {
            String name = m.path("name").asText();
            names.add(name);
            assertThat(m.path("manifestSha256").asText()).as(name)
                    .isEqualTo(registry.manifestSha256(name, m.path("version").asLong()));
        }
        assertThat(names).containsExactlyInAnyOrder(ModelNames.TOKENIZER, ModelNames.POLICY, ModelNames.REWARD, "harmless");

        // the seeds, in the order given, and the runs are those seeds
        assertThat(p.path("seeds").toString()).isEqualTo("[3,1]");
        assertThat(doc.path("seeds").toString()).isEqualTo("[3,1]");
        assertThat(doc.path("command").asText()).isEqualTo("bin/dualign experiment oneshot-bias --seeds 3,1 --quick");
        List<Integer> ran = new ArrayList<>();
        doc.path("result").path("reference").forEach(x -> ran.add(x.path("seed").asInt()));
        assertThat(ran).containsExactly(3, 1);

        // every parameter, defaults included, not only what the command line set
        JsonNode c = p.path("config");
        assertThat(c.path("experiment").asText()).isEqualTo("oneshot-bias");
        assertThat(c.path("quick").asBoolean()).isTrue();
        assertThat(c.path("seeds").toString()).isEqualTo("[3,1]");
        assertThat(c.path("promptCounts").toString()).isEqualTo("[10,20]");
        assertThat(c.path("samplesPerPrompt").toString()).isEqualTo("[4,8]");
        for (String key : List.of("beta", "margin", "maxTokens", "sampleBatch", "samplingTemperature", "samplingTopP")) {
            assertThat(c.path(key).isNumber()).as(key + " in " + c).isTrue();
        }

        // no machine paths anywhere: no absolute path, no temp folder, no home
        List<String> offending = new ArrayList<>();
        strings(doc, "", offending, List.of(System.getProperty("java.io.tmpdir"), tmp.toString(), registryDir.toString(),
                System.getProperty("user.home")));
        assertThat(offending).isEmpty();
    }

    @Test
    void anExperimentWithoutModelsSaysSoAndStillRecordsItsParameters() throws Exception {
        Fonts.assumeAvailable();
        CliRun r = CliRun.of("experiment", "lambda-ci", "--quick", "--seeds", "2", "--out", tmp.toString());
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode p = new ObjectMapper().readTree(tmp.resolve("lambda-ci.json").toFile()).path("provenance");
        assertThat(p.path("registry").isNull()).as(p.toString()).isTrue();
        assertThat(p.path("models").size()).isZero();
        assertThat(p.path("config").path("runsPerSeedAndK").asInt()).isEqualTo(10);
        assertThat(p.path("config").path("world").path("meanG").isNumber()).isTrue();
        assertThat(p.path("config").path("ks").toString()).isEqualTo("[4,16,64]");
    }

    /** Collects every string value (and key) that is or contains a machine path. */
    private static void strings(JsonNode n, String at, List<String> bad, List<String> forbidden) {
        if (n.isTextual()) {
            String s = n.asText();
            boolean machine = s.startsWith("/") || s.matches("^[A-Za-z]:\\\\.*")
                    || forbidden.stream().anyMatch(f -> f != null && f.length() > 1 && s.contains(f));
            if (machine) {
                bad.add(at + " = " + s);
            }
        }
        n.fields().forEachRemaining(e -> strings(e.getValue(), at + "." + e.getKey(), bad, forbidden));
        for (int i = 0; n.isArray() && i < n.size(); i++) {
            strings(n.get(i), at + "[" + i + "]", bad, forbidden);
        }
    }

    /** git's output in the working directory, or null when git is missing or this is not a checkout. */
    private static String git(String... args) throws InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("git"));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return p.waitFor() == 0 ? out : null;
        } catch (IOException e) {
            return null;
        }
    }
}
