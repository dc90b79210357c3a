import { upsertSearchAttributes } from '@temporalio/workflow';
import { CrKind, CrName } from './search-attributes.ts';

/** Tags itself as a resource workflow, the way the engine's workflows do, and returns what it set. */
export async function tagResource(kind: string, name: string): Promise<string> {
  upsertSearchAttributes([
    { key: CrKind, value: kind },
    { key: CrName, value: name },
  ]);
  return `${kind}/${name}`;
}
