/**
 * Kafka for Dualign: topic names and admin, event serdes that dead-letter instead of throwing,
 * Flink source and sink factories, and the embedded single-node KRaft broker.
 */
package dev.dualign.connectors;
