/** Parsing of command-line flag values shared by the infctl commands. */

/** A flag's integer value, at least `min`; `fallback` when the flag is absent. */
export function integer(value: string | undefined, flag: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${flag} takes an integer of at least ${min}, not "${value}"`);
  return n;
}
