package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dualign.core.config.Config;
import dev.dualign.core.dual.DualMode;
import dev.dualign.serving.PolicyServer;
import dev.dualign.app.DualignOptions;
import dev.dualign.world.bootstrap.ModelSize;
import dev.dualign.world.testing.TestModels;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The whole loop at a tiny scale, in one JVM, every part real: embedded broker, the Flink job on a
 * MiniCluster, the policy server, the fine-tuner and simulated users. One demo serves both tests:
 * the loop itself (λ moves, a new version is trained, published and deployed) and the dashboard
 * in headless Chromium (its charts show data points and change as the loop runs).
 */
class DemoITCase {
    static final String CHROMEDRIVER = "/usr/bin/chromedriver";
    static final String CHROMIUM = "/usr/bin/chromium";

    static Demo demo;
    static StringWriter console = new StringWriter();

    @BeforeAll
    static void startDemo() throws Exception {
        Path dir = Files.createDirectories(Path.of("target/tmp/demo-" + System.nanoTime()));
        Path registry = dir.resolve("registry");
        TestModels.copyTree(TestModels.registry(), registry);
        Map<String, Object> o = new java.util.HashMap<>();
        o.put("scoring.registry", registry.toAbsolutePath().toString());
        o.put("checkpoint.dir", dir.resolve("checkpoints").toAbsolutePath().toString());
        o.put("checkpoint.interval-ms", 1000);
        o.put("flink.parallelism", 1);
        o.put("flink.web-port", freePort());
        o.put("metrics.prometheus-port", 0);
        o.put("server.port", 0);
        o.put("server.admin-token", "test-token");
        o.put("dual.n-min", 60);
        o.put("dual.epsilon", 0.15);
        o.put("dual.estimate-every", 20);
        o.put("dual.one-shot.prompts", 20);
        o.put("finetune.min-pairs", 32);
        o.put("finetune.max-pairs", 160);
        o.put("finetune.epochs", 2);
        Config c = Config.of(o, DualignOptions.ALL, DualignOptions.PASS_THROUGH)
                .with(Map.of("constraints.harmless", 0.5), DualignOptions.ALL, DualignOptions.PASS_THROUGH);
        demo = Demo.start(c, dir, new Demo.Options(null, 30, 5, ModelSize.TINY, Duration.ofSeconds(5)),
                new PrintWriter(console, true));
    }

    @AfterAll
    static void stopDemo() {
        if (demo != null) {
            demo.close();
        }
        System.out.println(console);
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void theLoopMovesLambdaAndDeploysANewVersion() throws Exception {
        long deadline = System.currentTimeMillis() + 300_000;
        // the status line comes every 5 s: with tiny models the loop can be quicker than the first one
        while (System.currentTimeMillis() < deadline
                && !(lambdaMoved() && newVersionDeployed() && console.toString().contains("λ="))) {
            Thread.sleep(1000);
        }
        assertThat(lambdaMoved()).as("λ left 0 (console:%n%s)", console).isTrue();
        assertThat(newVersionDeployed()).as("a fine-tuned version went into serving (console:%n%s)", console).isTrue();
        assertThat(demo.fineTuner().published()).isPositive();
        assertThat(console.toString()).contains("Dashboard:", "Flink web UI:", "Kafka bootstrap:", "λ=");

        // the summary has the documented shape: version 0 and a trained version, each estimated and true
        Map<String, Object> s = demo.summary();
        assertThat(s).containsKeys("mode", "margins", "lambdaPath", "versions");
        assertThat(s.get("mode")).isEqualTo(DualMode.ITERATIVE);
        assertThat((List<?>) s.get("lambdaPath")).isNotEmpty();
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> versions = (List<Map<String, Object>>) s.get("versions");
        Map<String, Object> v0 = versions.get(0);
        assertThat(v0.get("version")).isEqualTo(0L);
        assertThat((Map<String, Object>) v0.get("estimated")).containsKeys("harmless", "reward", "kl");
        assertThat((Map<String, Object>) v0.get("true")).containsKeys("harmless", "reward");
        assertThat(versions).anySatisfy(v -> {
            assertThat((Long) v.get("version")).isPositive();
            assertThat((Map<String, Object>) v.get("lambda")).containsKey("harmless");
        });
        String json = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(s);
        assertThat(json).contains("\"lambdaPath\":[{\"t\":", "\"mode\":\"iterative\"");
    }

    private static boolean lambdaMoved() {
        return demo.monitor().latestLambda().stream().anyMatch(l -> l > 0);
    }

    private static boolean newVersionDeployed() {
        return demo.server().timeline().stream()
                .anyMatch(e -> e.version() > 0 && List.of("canary", "deploy").contains(e.kind()));
    }

    @Test
    void theOfficialOpenAiClientListsModelsAndGetsCompletionsPlainAndStreamed() throws Exception {
        String out = OpenAiClient.check(demo.dashboardUrl());
        assertThat(out).contains("\"ok\":true", "\"models\":[\"dualign\"]");
    }

    @Test
    void theDashboardRendersChartsThatUpdateInChromium() throws Exception {
        // A machine without a browser reports this test SKIPPED with the way to enable it, never passed;
        // .ci/run installs the browser and fails if the test was skipped.
        assumeTrue(Files.isExecutable(Path.of(CHROMIUM)) && Files.isExecutable(Path.of(CHROMEDRIVER)),
                "no browser: " + CHROMIUM + " and " + CHROMEDRIVER + " are needed; enable this test with "
                        + "`apt-get install -y chromium chromium-driver`");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM);
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1800");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(new java.io.File(CHROMEDRIVER)).usingAnyFreePort().build();
        ChromeDriver driver = new ChromeDriver(service, options);
        try {
            driver.get(demo.dashboardUrl());
            JavascriptExecutor js = driver;
            String points = """
                    const ids = ['lambdaChart', 'utility-harmless', 'rewardChart'];
                    const out = {};
                    for (const id of ids) {
                      const el = document.getElementById(id);
                      const c = el && Chart.getChart(el);
                      out[id] = c ? c.data.datasets.reduce((n, d) => n + d.data.length, 0) : -1;
                      out[id + ':data'] = c ? JSON.stringify(c.data.datasets.map(d => d.data)) : '';
                    }
                    out.updates = window.dualignUpdates;
                    return JSON.stringify(out);""";
            long deadline = System.currentTimeMillis() + 240_000;
            com.fasterxml.jackson.databind.JsonNode first = null;
            while (System.currentTimeMillis() < deadline) {
                first = new com.fasterxml.jackson.databind.ObjectMapper().readTree((String) js.executeScript(points));
                if (first.get("lambdaChart").asInt() > 0 && first.get("utility-harmless").asInt() > 0
                        && first.get("rewardChart").asInt() > 0) {
                    break;
                }
                Thread.sleep(1000);
            }
            assertThat(first.get("lambdaChart").asInt()).as("λ chart points").isPositive();
            assertThat(first.get("utility-harmless").asInt()).as("harmless chart points").isPositive();
            assertThat(first.get("rewardChart").asInt()).as("reward/KL chart points").isPositive();
            // canvases were drawn: some pixel is not blank
            Object drawn = js.executeScript("""
                    const c = document.getElementById('utility-harmless');
                    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                    return n;""");
            assertThat(((Number) drawn).longValue()).isGreaterThan(100);

            // and they update: the estimates move as traffic is scored
            com.fasterxml.jackson.databind.JsonNode later = first;
            long until = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < until) {
                Thread.sleep(2000);
                later = new com.fasterxml.jackson.databind.ObjectMapper().readTree((String) js.executeScript(points));
                if (!later.get("utility-harmless:data").asText().equals(first.get("utility-harmless:data").asText())) {
                    break;
                }
            }
            assertThat(later.get("updates").asInt()).isGreaterThan(first.get("updates").asInt());
            assertThat(later.get("utility-harmless:data").asText()).isNotEqualTo(first.get("utility-harmless:data").asText());
            assertThat(driver.findElement(org.openqa.selenium.By.id("serving")).getText()).startsWith("v");
            // each band says what it is: this demo's dual.confidence and dual.interval (defaults: 95 %, normal)
            Object legend = js.executeScript("""
                    return Chart.getChart(document.getElementById('utility-harmless')).data.datasets.map(d => d.label).join('|');""");
            assertThat((String) legend).contains("harmless 95 % normal band");
            // the versions table: each estimated version with its sample count; the fine-tuner runs in
            // this process, so its state shows; the dead letters and alerts have their places
            java.util.List<org.openqa.selenium.WebElement> rows = driver.findElements(org.openqa.selenium.By.cssSelector("#versions tr"));
            assertThat(rows).isNotEmpty();
            assertThat(rows.stream().map(r -> r.findElement(org.openqa.selenium.By.className("n")).getText())
                    .mapToLong(Long::parseLong).max().orElse(0)).isPositive();
            assertThat(driver.findElement(org.openqa.selenium.By.id("finetuner")).getText()).isNotEmpty()
                    .isNotEqualTo("in another process").isNotEqualTo("–");
            assertThat(driver.findElement(org.openqa.selenium.By.id("dlq")).getText()).matches("\\d+ \\(\\d+ in the last minute\\)");
            assertThat(driver.findElements(org.openqa.selenium.By.id("alerts"))).hasSize(1);
            PolicyServer.Deployment d = demo.server().deployment();
            assertThat(d.stable()).isGreaterThanOrEqualTo(0);
        } finally {
            driver.quit();
        }
    }
}
