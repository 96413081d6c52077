/**
 * What a policy step trains on, as files an outside trainer reads: K scored responses per prompt
 * ({@link dev.dualign.core.dataset.PolicyDatasetRecord}, written and checked by
 * {@link dev.dualign.core.dataset.PolicyDataset}) and, from the same records, preference pairs with
 * soft labels in TRL's conversational DPO format ({@link dev.dualign.core.dataset.DpoView}). Pure
 * code over files: the request that names a file carries its sha256 (docs/events.md).
 */
package dev.dualign.core.dataset;
