package dev.dualign.serving;

import static dev.dualign.serving.AdapterGateways.external;
import static dev.dualign.serving.AdapterGateways.gateway;
import static dev.dualign.serving.AdapterGateways.runtime;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The registry lists every outside version a gateway admitted, by reference: no weights, where they are. */
class GatewayRegistryReferenceTest {
    final List<ResponseEvent> log = new CopyOnWriteArrayList<>();

    @TempDir
    Path dir;

    @Test
    void anAdmittedOutsideVersionIsRecordedByReferenceAndARefusedOneIsNot() throws Exception {
        ModelRegistry registry = new ModelRegistry(dir);
        try (VllmStandIn vllm = new VllmStandIn(); Gateway g = gateway(vllm.url(), runtime("vllm", 0.5, 2, 5_000, vllm.url()), log)) {
            g.recordVersionsIn(registry);
            assertThat(g.offer(external(5, "policy-v5"))).isTrue();
            vllm.refuseLoads = "no";
            assertThat(g.offer(external(6, "policy-v6"))).isFalse();
        }
        assertThat(registry.versions(ModelNames.EXTERNAL_POLICY)).as("the refused version 6 never served: not listed")
                .containsExactly(5L);
        var m = registry.manifest(ModelNames.EXTERNAL_POLICY, 5);
        assertThat(m.files()).as("no weights: a reference").isEmpty();
        assertThat(m.info()).containsEntry("adapter", "policy-v5").containsEntry("path", "/adapters/policy-v5")
                .containsEntry("sha256", "a".repeat(64)).containsEntry("requestId", "ft-5");
        assertThat(m.lambda()).containsEntry("harmless", 0.5);
        assertThat(m.parentVersion()).isEqualTo(4L);
        assertThat(registry.versions(ModelNames.POLICY)).as("built-in versions untouched").isEmpty();
    }
}
