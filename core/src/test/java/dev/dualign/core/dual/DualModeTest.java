package dev.dualign.core.dual;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** What each mode does, the one place operators and servers ask instead of comparing mode names. */
class DualModeTest {
    @Test
    void eachModeSaysWhereItsEvidenceComesFromAndHowItActs() {
        assertThat(DualMode.defaultMode()).isEqualTo(DualMode.ITERATIVE);
        for (DualMode m : DualMode.values()) {
            // a mode that draws reference samples uses them; enforcement's candidates are its reference samples
            assertThat(m.usesReferenceSamples()).as(m.key()).isEqualTo(m.drawsReferenceSamples() || m.enforcesAtInference());
            // the primal-dual baseline steps on live traffic, and has no one-shot start
            assertThat(m.stepsOnLiveSamples() && m.usesReferenceSamples()).as(m.key()).isFalse();
        }
        assertThat(DualMode.MONITOR.closesTheLoop()).isFalse();
        assertThat(DualMode.MONITOR.usesReferenceSamples() || DualMode.MONITOR.stepsOnLiveSamples()).isFalse();
        assertThat(DualMode.PRIMAL_DUAL.stepsOnLiveSamples()).isTrue();
        assertThat(DualMode.ENFORCE.drawsReferenceSamples()).isFalse();
        assertThat(DualMode.closedLoopKeys()).isEqualTo("iterative, one-shot, primal-dual, enforce");
    }
}
