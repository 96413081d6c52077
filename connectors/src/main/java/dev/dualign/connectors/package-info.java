/**
 * Kafka for Dualign: settings and topic admin (the topics themselves are
 * {@link dev.dualign.core.event.Topic}), event serdes that dead-letter instead of throwing, Flink
 * source and sink factories, and the embedded single-node KRaft broker.
 */
package dev.dualign.connectors;
