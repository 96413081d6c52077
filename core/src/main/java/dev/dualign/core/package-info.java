/**
 * The parts of Dualign that need no Flink, DJL or Kafka: event records, topics and their JSON form
 * ({@link dev.dualign.core.event}), the dual mathematics ({@link dev.dualign.core.dual}), the
 * loop's decisions ({@link dev.dualign.core.control}), the streaming estimators with their
 * confidence bounds ({@link dev.dualign.core.stats}) and typed configuration
 * ({@link dev.dualign.core.config}).
 */
package dev.dualign.core;
