/**
 * The parts of Dualign that need no Flink, DJL or Kafka: event records, topics and their JSON form
 * ({@link dev.dualign.core.event}), the dual mathematics ({@link dev.dualign.core.dual}), the
 * loop's decisions ({@link dev.dualign.core.control}), the streaming estimators with their
 * confidence bounds ({@link dev.dualign.core.stats}), typed configuration
 * ({@link dev.dualign.core.config}) and the dataset files a policy step hands to a trainer
 * ({@link dev.dualign.core.dataset}).
 */
package dev.dualign.core;
