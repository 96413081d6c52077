package dev.dualign.streaming.ops;

import java.util.Map;
import java.util.Set;

/**
 * A version's estimator state.
 *
 * @param stats name → running statistics (utilities, reward, kl)
 * @param alerted constraints currently in alert for this version (an alert is sent once until it recovers)
 * @param sinceEmit samples since the last published estimate
 */
public record EstimatorState(Map<String, StatsState> stats, Set<String> alerted, int sinceEmit) {}
