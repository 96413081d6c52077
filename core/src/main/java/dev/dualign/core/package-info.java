/**
 * The parts of Dualign that need no Flink, DJL or Kafka: event records and their JSON form
 * ({@link dev.dualign.core.event}), the dual mathematics ({@link dev.dualign.core.dual}) and the
 * streaming estimators with their confidence bounds ({@link dev.dualign.core.stats}).
 */
package dev.dualign.core;
