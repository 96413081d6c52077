package dev.dualign.streaming.ops;

import dev.dualign.core.stats.RunningStats;

/** A {@link RunningStats} as state: a plain record so it serializes without Kryo. */
public record StatsState(long n, double mean, double m2, double min, double max) {
    public static final StatsState EMPTY = new StatsState(0, 0, 0, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY);

    public static StatsState of(RunningStats s) {
        return new StatsState(s.n(), s.n() == 0 ? 0 : s.mean(), s.m2(), s.min(), s.max());
    }

    public RunningStats toStats() {
        return RunningStats.of(n, mean, m2, min, max);
    }
}
