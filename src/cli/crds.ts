import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderCrds } from '../api/index.ts';

/** Writes every generated CRD into `dir`; returns the files written. */
export async function writeCrds(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of renderCrds()) {
    await writeFile(join(dir, name), text);
    written.push(join(dir, name));
  }
  return written;
}

/** Names the files in `dir` that differ from what generation produces, or are missing or extra. */
export async function staleCrds(dir: string): Promise<string[]> {
  const expected = renderCrds();
  const present = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.yaml'));
  const stale: string[] = [];
  for (const [name, text] of expected) {
    const actual = await readFile(join(dir, name), 'utf8').catch(() => undefined);
    if (actual !== text) stale.push(actual === undefined ? `${name} (missing)` : `${name} (differs)`);
  }
  for (const name of present) if (!expected.has(name)) stale.push(`${name} (not generated)`);
  return stale;
}
