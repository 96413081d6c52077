/**
 * DJL models for Dualign: the tokenizer, the policy language model, reward and utility scorers,
 * the model registry, the policy server with hot swap and the DPO fine-tuner. Nothing here knows
 * the synthetic world (module {@code world}); a simulation plugs in only as a
 * {@link dev.dualign.serving.GroundTruth}.
 */
package dev.dualign.model;
