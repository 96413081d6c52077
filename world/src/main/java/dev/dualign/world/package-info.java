/**
 * The synthetic chat world: intents, prompts and responses, the oracle that knows their true
 * reward and utilities ({@link dev.dualign.world.OracleTruth}), simulated users, and (in
 * {@code bootstrap}) the training of tiny models on it. For the demo, tests and experiments;
 * nothing in production depends on it.
 */
package dev.dualign.world;
