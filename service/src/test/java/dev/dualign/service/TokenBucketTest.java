package dev.dualign.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TokenBucketTest {
    static final long S = 1_000_000_000L;

    @Test
    void aBurstOfTheLimitThenOneRequestPerSixtiethOfAMinute() {
        TokenBucket b = new TokenBucket(60, 0);
        for (int i = 0; i < 60; i++) {
            assertThat(b.tryTake(0)).as("request %d of the burst", i).isZero();
        }
        long wait = b.tryTake(0);
        assertThat(wait).isEqualTo(S); // 60 a minute: one token a second
        assertThat(b.tryTake(S / 2)).as("half a token back is not a token").isPositive();
        assertThat(b.tryTake(S)).isZero();
        assertThat(b.tryTake(S)).isPositive();
    }

    @Test
    void aRefusedRequestTakesNothingAndTheBucketNeverHoldsMoreThanTheLimit() {
        TokenBucket b = new TokenBucket(2, 0);
        assertThat(b.tryTake(0)).isZero();
        assertThat(b.tryTake(0)).isZero();
        for (int i = 0; i < 10; i++) {
            assertThat(b.tryTake(0)).isPositive();
        }
        assertThat(b.tryTake(30 * S)).as("30 s at 2 a minute: one token back").isZero();
        long idle = 3600 * S; // an hour idle refills to the limit, not beyond it
        assertThat(b.tryTake(idle)).isZero();
        assertThat(b.tryTake(idle)).isZero();
        assertThat(b.tryTake(idle)).isPositive();
    }

    @Test
    void aLimitBelowOneIsRefused() {
        assertThatThrownBy(() -> new TokenBucket(0, 0)).hasMessageContaining("≥ 1");
    }
}
