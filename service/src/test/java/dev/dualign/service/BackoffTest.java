package dev.dualign.service;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class BackoffTest {
    @Test
    void doublesToThirtySecondsAndStartsOverAfterASessionThatWorkedForAMinute() {
        Backoff b = new Backoff();
        assertThat(b.after(10)).isEqualTo(1000);
        assertThat(b.after(10)).isEqualTo(2000);
        assertThat(b.after(10)).isEqualTo(4000);
        assertThat(b.after(10)).isEqualTo(8000);
        assertThat(b.after(10)).isEqualTo(16_000);
        assertThat(b.after(10)).isEqualTo(30_000);
        assertThat(b.after(10)).isEqualTo(30_000);
        assertThat(b.after(61_000)).isEqualTo(1000);
        assertThat(b.after(10)).isEqualTo(2000);
    }
}
