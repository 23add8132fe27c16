/**
 * The packaging config is valid for electron-builder 26 and consistent with
 * the files it packs; the checks themselves catch the mistakes they exist for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CONFIG_FILE,
  ROOT,
  electronBuilderProblems,
  fileProblems,
  loadBuilderConfig,
  pngSize,
  schemaProblems,
} from './builder-config.js';

const config = loadBuilderConfig();

test('electron-builder.yml matches electron-builder\'s JSON schema', () => {
  assert.deepEqual(schemaProblems(config), []);
});

test('electron-builder.yml passes electron-builder\'s own loader and validator', async () => {
  assert.deepEqual(await electronBuilderProblems(), []);
});

test('the files the config relies on exist and agree with each other', () => {
  assert.deepEqual(fileProblems(config), []);
  assert.deepEqual(pngSize(path.join(ROOT, 'build/icon.png')), { width: 512, height: 512 });
});

test('packs the app directory with the build output and its package.json for Linux, Windows and macOS', () => {
  assert.deepEqual(config.directories, { app: 'app', buildResources: 'build', output: 'release' });
  assert.ok((config.files as string[]).includes('dist/**/*'));
  assert.ok((config.files as string[]).includes('package.json'));
  // native modules, and the log's worker threads with what they load, live outside the archive
  for (const pattern of ['**/*.node', 'dist/main/*-worker.js', 'node_modules/better-sqlite3/**', 'node_modules/bindings/**']) {
    assert.ok((config.asarUnpack as string[]).includes(pattern), `asarUnpack has ${pattern}`);
  }
  assert.deepEqual((config.linux as { target: string[] }).target, ['AppImage', 'deb']);
  assert.deepEqual((config.win as { target: string[] }).target, ['nsis']);
  assert.equal((config.mac as { category: string }).category, 'public.app-category.utilities');
});

test('the schema check rejects an unknown top-level key and names it', () => {
  const problems = schemaProblems({ ...config, linx: { target: ['deb'] } });
  assert.deepEqual(problems, ['configuration has an unknown property "linx"']);
});

test('the schema check rejects a misspelt nested option and a value of the wrong type', () => {
  const nsis = { ...(config.nsis as object), oneclick: false };
  assert.ok(schemaProblems({ ...config, nsis }).includes('configuration.nsis has an unknown property "oneclick"'));
  const problems = schemaProblems({ ...config, asar: 'yes please' });
  assert.ok(problems.some((p) => p.startsWith('configuration.asar ')), problems.join('\n'));
});

test("electron-builder's validator rejects a config with an unknown key", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-builder-'));
  try {
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'x', version: '1.0.0' }));
    writeFileSync(path.join(dir, CONFIG_FILE), `${readFileSync(path.join(ROOT, CONFIG_FILE), 'utf8')}\nlinx:\n  target: deb\n`);
    const problems = await electronBuilderProblems(dir);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /unknown property 'linx'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the file check reports a missing icon, a main outside dist/main and a stale lockfile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-files-'));
  try {
    cpSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
    cpSync(path.join(ROOT, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
    cpSync(path.join(ROOT, 'app/package-lock.json'), path.join(dir, 'app/package-lock.json'));
    const appPkg = JSON.parse(readFileSync(path.join(ROOT, 'app/package.json'), 'utf8'));
    appPkg.main = 'main.js';
    appPkg.dependencies = { ...appPkg.dependencies, zod: '4.6.7' };
    writeFileSync(path.join(dir, 'app/package.json'), JSON.stringify(appPkg));
    const problems = fileProblems(config, dir);
    assert.ok(problems.includes('build/icon.png is missing (the app icon for every platform)'), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('app/package.json "main" is "main.js"')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('app/package-lock.json is out of date')), problems.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
