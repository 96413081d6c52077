package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class ReferenceBudgetTest {
    static final long MS = 1_000_000L;

    @Test
    void overAnyLongStretchReferenceGenerationTakesItsShareOfTheTimeAndNoMore() {
        ReferenceBudget b = new ReferenceBudget(0.2, 50 * MS, Long.MAX_VALUE, 0);
        long now = 0;
        long used = 0;
        // a worker that generates whenever allowed, each generation taking 30 ms
        while (now < 60_000 * MS) {
            long wait = b.waitNanos(now);
            if (wait > 0) {
                now += wait;
                continue;
            }
            now += 30 * MS;
            used += 30 * MS;
            b.spent(now, 30 * MS, 1);
        }
        assertThat((double) used / now).isCloseTo(0.2, within(0.005));
    }

    @Test
    void idleTimeIsSavedOnlyUpToTheBurst() {
        ReferenceBudget b = new ReferenceBudget(0.1, 20 * MS, Long.MAX_VALUE, 0);
        long hour = 3_600_000 * MS;
        assertThat(b.waitNanos(hour)).isZero();
        b.spent(hour, 20 * MS, 1); // the saved 20 ms
        assertThat(b.waitNanos(hour)).isZero(); // at 0 credit a generation may start
        b.spent(hour, 10 * MS, 1);
        assertThat(b.waitNanos(hour)).isEqualTo(100 * MS); // 10 ms owed at 10 %
    }

    @Test
    void itIsDoneOnceTheSolveHasItsPrompts() {
        ReferenceBudget b = new ReferenceBudget(1.0, 0, 3, 0);
        b.spent(1, 1, 2);
        assertThat(b.done()).isFalse();
        b.spent(2, 1, 1);
        assertThat(b.done()).isTrue();
        assertThat(b.sampledPrompts()).isEqualTo(3);
    }

    @Test
    void badSettingsAreRefused() {
        assertThatThrownBy(() -> new ReferenceBudget(0, 0, 1, 0)).hasMessageContaining("(0, 1]");
        assertThatThrownBy(() -> new ReferenceBudget(1.5, 0, 1, 0)).hasMessageContaining("(0, 1]");
        assertThatThrownBy(() -> new ReferenceBudget(0.5, 0, 0, 0)).hasMessageContaining("target");
    }
}
