/**
 * DJL models for Dualign: the synthetic chat world and its oracle, the tokenizer, the policy
 * language model, reward and utility scorers, the model registry, the policy server with hot swap
 * and the DPO fine-tuner.
 */
package dev.dualign.model;
