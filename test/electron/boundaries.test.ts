/**
 * The rules that keep Electron contained: only main/electron/ imports it, and
 * the sandboxed preload needs nothing but `electron` (a sandboxed preload
 * cannot require Node modules or files; everything else must be bundled in).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|tsx|mts|cts)$/.test(name)) out.push(p);
  }
  return out;
}

const IMPORTS_ELECTRON = /(?:from\s+|import\s*\(\s*|require\s*\(\s*|import\s+)['"]electron(?:\/[^'"]*)?['"]/;

test('only main/electron/ imports electron', () => {
  const offenders = [...sources('main'), ...sources('renderer')].filter(
    (f) => !f.startsWith(path.join('main', 'electron') + path.sep) && IMPORTS_ELECTRON.test(readFileSync(f, 'utf8')),
  );
  assert.deepEqual(offenders, []);
});

test('the modules the unit tests load from main/electron/ do not import electron', () => {
  const glue = new Set(['main.ts', 'preload.ts']);
  const offenders = readdirSync(path.join('main', 'electron'))
    .filter((f) => f.endsWith('.ts') && !glue.has(f))
    .filter((f) => IMPORTS_ELECTRON.test(readFileSync(path.join('main', 'electron', f), 'utf8')));
  assert.deepEqual(offenders, []);
});

test('the preload bundle requires nothing but electron and stays small', async () => {
  // The same options as scripts/build-main.mjs uses for app/dist/preload/index.cjs.
  const result = await build({
    entryPoints: ['main/electron/preload.ts'],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['electron', 'better-sqlite3'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.text;
  const required = [...code.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
  assert.deepEqual([...new Set(required)], ['electron']);
  assert.ok(code.length < 4000, `preload bundle is ${code.length} bytes; did something pull in the contract's zod schemas?`);
  assert.match(code, /exposeInMainWorld\("gatehouse"/);
});
