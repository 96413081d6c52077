/**
 * The loop's decisions as plain Java: how λ moves in each dual mode ({@link
 * dev.dualign.core.control.ControlPolicy}) and how a canary is judged ({@link
 * dev.dualign.core.control.CanaryRule}), and how a gateway swaps outside versions into the user's
 * inference server ({@link dev.dualign.core.control.AdapterPlan}). Pure functions of state and evidence, unit-tested without
 * Flink or DJL; the operators and servers only hold state and carry the decisions out.
 */
package dev.dualign.core.control;
