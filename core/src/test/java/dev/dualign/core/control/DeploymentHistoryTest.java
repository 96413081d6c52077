package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.event.DeploymentDecision.Action;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DeploymentHistoryTest {
    @Test
    void nothingDecidedServesTheInitialVersionAndCanariesTheNewestAnnouncement() {
        DeploymentHistory h = new DeploymentHistory(0);
        assertThat(h.stable()).isZero();
        assertThat(h.canary()).isEmpty();
        h.announced(1, "a");
        h.announced(2, "b");
        assertThat(h.canary()).contains(Map.entry(2L, "b"));
    }

    @Test
    void aPromotionMovesStableAndARollbackDropsTheCanaryWhateverTheOrderOfTheTopics() {
        DeploymentHistory h = new DeploymentHistory(0);
        // decisions read before the announcements they concern (two topics, no order between them)
        h.decided(1, Action.PROMOTE);
        h.decided(3, Action.ROLLBACK);
        h.announced(3, "c");
        h.announced(1, "a");
        h.announced(2, "b"); // retired undecided when 3 replaced it
        assertThat(h.stable()).isEqualTo(1);
        assertThat(h.digest(1)).isEqualTo("a");
        // 3, the newest, was rolled back; 2 was superseded by it on every live server: no canary
        assertThat(h.canary()).isEmpty();
        h.announced(4, "d");
        h.decided(4, Action.PROMOTE);
        assertThat(h.stable()).isEqualTo(4);
        assertThat(h.canary()).isEmpty();
    }

    @Test
    void aVersionBelowTheInitialOneIsNeverACanary() {
        DeploymentHistory h = new DeploymentHistory(5);
        h.announced(3, "c");
        assertThat(h.stable()).isEqualTo(5);
        assertThat(h.canary()).isEmpty();
    }
}
