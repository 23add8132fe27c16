/** Runs the real CLI (main/cli.ts under tsx) to completion, at most 20 s; never rejects on a non-zero exit. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `env.GATEHOUSE_DATA_DIR` points the default data directory somewhere harmless; `input` is standard input. */
export function runCli(args: string[], opts: { input?: string; defaultDataDir?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env = opts.defaultDataDir ? { ...process.env, GATEHOUSE_DATA_DIR: opts.defaultDataDir } : process.env;
    const child = execFile(process.execPath, ['--import', 'tsx', 'main/cli.ts', ...args], { cwd: ROOT, timeout: 20_000, env }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}
