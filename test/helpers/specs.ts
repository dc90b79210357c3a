import { parseSpec, type SpecKind, type SpecOf } from '../../src/api/index.ts';
import type { SpecMessage } from '../../src/workflows/messages.ts';

/** The spec signal the controller would send: the spec parsed with its kind's schema, defaults applied. */
export function specMessage<K extends SpecKind>(
  kind: K,
  spec: unknown,
  generation: number,
): SpecMessage & { spec: SpecOf<K> } {
  const parsed = parseSpec(kind, spec);
  if (!parsed.ok) throw new Error(`${kind} spec does not parse: ${parsed.problems.join('; ')}`);
  return { spec: parsed.spec, generation };
}
