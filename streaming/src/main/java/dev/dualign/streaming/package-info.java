/**
 * The Flink alignment job: scoring, per-version constraint estimates and the dual controller.
 * Its command-line entry points live in {@link dev.dualign.cli}.
 */
package dev.dualign.streaming;
