/** The ModelName search attribute, set by the workflows that serve or observe a model. */
import { patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { ModelName } from '../temporal/search-attributes.ts';

/**
 * Upserts ModelName only when it differs from the workflow's: an upsert on every poll was a command and an
 * event per tick (issue 16). Histories recorded before the patch upserted every time and replay that way.
 */
/** The patch behind upserting only on change; announced before a tick's read (see tickReads). */
export const MODEL_UPSERT_PATCH = 'model-upsert-on-change';

export function showModelName(model: string): void {
  const shown = workflowInfo().typedSearchAttributes.get(ModelName);
  if (!patched(MODEL_UPSERT_PATCH) || shown !== model)
    upsertSearchAttributes([{ key: ModelName, value: model }]);
}
