package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class CanaryHoldTest {
    @Test
    void aNewVersionTakesAFreeSlotAtOnceAndWaitsBehindAYoungUndecidedCanaryForAtMostTheHold() {
        assertThat(CanaryHold.mayReplace(-1, 1_000, 60_000)).isTrue(); // no canary
        assertThat(CanaryHold.mayReplace(1_000, 1_000 + 59_999, 60_000)).isFalse();
        assertThat(CanaryHold.mayReplace(1_000, 1_000 + 60_000, 60_000)).isTrue(); // the wait is bounded
        assertThat(CanaryHold.dueAt(1_000, 60_000)).isEqualTo(61_000);
        assertThat(CanaryHold.mayReplace(1_000, 1_000, 0)).isTrue(); // hold 0: replace at once, as before
        assertThatThrownBy(() -> CanaryHold.mayReplace(0, 0, -1)).hasMessageContaining("hold");
    }
}
