/**
 * What every `gatehouse` command shares: usage errors, the data directory,
 * the password on standard input, and the control service over the data
 * directory (the CLI is a transport: it calls the same methods the UI calls).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from '../contract/client.js';
import { openControl } from '../control/open.js';
import { VERSION } from '../contract/version.js';

/** A mistake in how the command was called: printed with a pointer to `gatehouse help`, exit code 2. */
export class UsageError extends Error {}

export function defaultDataDir(): string {
  if (process.env.GATEHOUSE_DATA_DIR) return process.env.GATEHOUSE_DATA_DIR;
  // the same folder Electron's app.getPath('userData') gives the desktop app
  if (process.platform === 'win32') return join(process.env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Gatehouse');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Gatehouse');
  return join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'Gatehouse');
}

export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('--password-stdin reads the password from standard input: pipe it in, e.g. printf %s "$PW" | gatehouse users add NAME --password-stdin');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // one trailing newline (from echo or a file) is not part of the password
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Runs `fn` with a client of the control service over the data directory (no proxy is started). */
export async function withClient<T>(dataDir: string | undefined, fn: (api: Client, extra: { adminLink(): string }) => Promise<T>): Promise<T> {
  const c = openControl(dataDir ?? defaultDataDir(), VERSION);
  try {
    return await fn(createClient(c.control), c);
  } finally {
    await c.close();
  }
}

/** A list flag given once or repeated, comma-separated or not: --dest a,b --dest c → [a, b, c] */
export function listFlag(v: string[] | undefined): string[] {
  return (v ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
}
