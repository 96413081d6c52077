/**
 * The whole loop in one process ({@link dev.dualign.app.Demo}): embedded broker, the Flink job on a
 * MiniCluster, the policy server, the fine-tuner and simulated users, with the wiring that
 * {@code dualign serve} shares.
 */
package dev.dualign.app;
