/**
 * Whether this test run may mount a small tmpfs (a full or read-only disk that
 * is real): root alone is not enough in a container without CAP_SYS_ADMIN.
 * Returns the reason to skip, or false.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let answer: string | false | undefined;

export function cannotMountTmpfs(): string | false {
  if (answer !== undefined) return answer;
  if (process.getuid?.() !== 0) return (answer = 'needs root (mounts a small tmpfs)');
  const dir = mkdtempSync(join(tmpdir(), 'gh-mountprobe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  if (r.status === 0) spawnSync('umount', ['-l', dir]);
  rmSync(dir, { recursive: true, force: true });
  answer = r.status === 0 ? false : `cannot mount a tmpfs here (${(r.stderr?.toString() || 'mount failed').trim()})`;
  return answer;
}
