package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Runs the official {@code openai} npm client ({@code tools/openai-client/check.mjs}) against a
 * server: models, completions plain and streamed, errors. A machine without Node or the package
 * reports the calling test SKIPPED with the way to enable it; .ci/run installs both and fails if
 * such a test was skipped.
 */
final class OpenAiClient {
    /** The client check and its installed {@code openai} package, relative to this module. */
    static final Path DIR = Path.of("../tools/openai-client");

    private OpenAiClient() {}

    /** The check's one-line JSON report; fails the test when the check fails. */
    static String check(String baseUrl) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/node")) || Files.isExecutable(Path.of("/usr/local/bin/node")),
                "no Node.js: the official openai client needs `node` (apt-get install -y nodejs npm)");
        assumeTrue(Files.isDirectory(DIR.resolve("node_modules/openai")),
                "the openai npm package is not installed: run `npm ci --prefix tools/openai-client`");
        Process p = new ProcessBuilder("node", DIR.resolve("check.mjs").toString(), baseUrl.replaceAll("/$", ""))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("the openai client check failed:%n%s", out).isZero();
        return out;
    }
}
