package dev.dualign.serving;

import static dev.dualign.serving.AdapterGateways.chat;
import static dev.dualign.serving.AdapterGateways.external;
import static dev.dualign.serving.AdapterGateways.gateway;
import static dev.dualign.serving.AdapterGateways.runtime;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.event.ResponseEvent;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The policy dataset's K responses per prompt on live traffic: for the picked share of answered
 * prompts the gateway asks the upstream for K more from the version (model name) that answered,
 * off the request path, and logs them as {@code sample} under the answer's prompt id.
 */
class GatewaySamplerTest {
    final List<ResponseEvent> log = new CopyOnWriteArrayList<>();

    @Test
    void eachPickedAnswerGetsKMoreResponsesOfItsVersionUnderItsPromptId() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            g.sampleForDatasets(1.0, 3, 1.0);
            assertThat(g.offer(external(5, "policy-v5"))).isTrue();
            for (int i = 0; i < 20; i++) {
                chat(g);
            }
            long deadline = System.currentTimeMillis() + 20_000;
            while (log.stream().filter(e -> e.source().equals(ResponseEvent.SOURCE_SAMPLE)).count() < 60
                    && System.currentTimeMillis() < deadline) {
                Thread.sleep(50);
            }
            Map<String, List<ResponseEvent>> byPrompt = log.stream().collect(Collectors.groupingBy(ResponseEvent::promptId));
            assertThat(byPrompt).hasSize(20);
            for (List<ResponseEvent> group : byPrompt.values()) {
                ResponseEvent answer = group.stream().filter(e -> e.source().equals(ResponseEvent.SOURCE_POLICY)).findFirst()
                        .orElseThrow();
                List<ResponseEvent> samples = group.stream().filter(e -> e.source().equals(ResponseEvent.SOURCE_SAMPLE)).toList();
                assertThat(samples).as("K = 3 more for every answer (fraction 1)").hasSize(3);
                for (ResponseEvent s : samples) {
                    assertThat(s.policyVersion()).as("the version that answered").isEqualTo(answer.policyVersion());
                    assertThat(s.model()).isEqualTo(answer.model());
                    assertThat(s.response()).as("asked of the same model").isEqualTo("answered by "
                            + (answer.model() == null ? VllmStandIn.BASE_MODEL : answer.model()));
                    assertThat(s.prompt()).isEqualTo(answer.prompt());
                }
            }
            assertThat(log).as("some answers and their samples came from the canary").anySatisfy(e -> {
                assertThat(e.source()).isEqualTo(ResponseEvent.SOURCE_SAMPLE);
                assertThat(e.policyVersion()).isEqualTo(5);
            });
        }
    }

    @Test
    void withNoFractionNothingIsSampled() throws Exception {
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            g.sampleForDatasets(0.0, 3, 1.0);
            for (int i = 0; i < 10; i++) {
                chat(g);
            }
            Thread.sleep(500);
            assertThat(log).hasSize(10).allSatisfy(e -> assertThat(e.source()).isEqualTo(ResponseEvent.SOURCE_POLICY));
            assertThat(vllm.answeredBy).hasSize(10);
        }
    }
}
