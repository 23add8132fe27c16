/**
 * Settings in SQLite (main/storage/settings-repo.ts) on real files: defaults
 * written on first open, a batch of changes validated whole before anything is
 * written, unknown keys refused, values kept across reopen, damaged rows
 * falling back to defaults, and the meta table.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, GatehouseError, SETTING_KEYS } from '../../main/contract/index.js';
import { openDb, type Db } from '../../main/storage/db.js';
import { SettingsRepo, getMeta, setMeta } from '../../main/storage/settings-repo.js';

const root = mkdtempSync(join(tmpdir(), 'gh-settings-'));
let n = 0;
const freshDir = () => join(root, `d${++n}`);
after(() => rmSync(root, { recursive: true, force: true }));

function rawRows(db: Db): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of db.prepare<[], { key: string; value: string }>('SELECT key, value FROM settings').all()) out[r.key] = r.value;
  return out;
}

function withRepo<T>(dir: string, fn: (repo: SettingsRepo, db: Db) => T): T {
  const db = openDb(dir);
  try {
    return fn(new SettingsRepo(db), db);
  } finally {
    db.close();
  }
}

test('writes a row with the default for every key on first open', () => {
  withRepo(freshDir(), (repo, db) => {
    const rows = rawRows(db);
    assert.deepEqual(Object.keys(rows).sort(), [...SETTING_KEYS].sort());
    for (const k of SETTING_KEYS) assert.equal(rows[k], JSON.stringify(DEFAULT_SETTINGS[k]), k);
    assert.deepEqual(repo.load(), DEFAULT_SETTINGS);
  });
});

test('saves a batch of changes in canonical form and returns the new settings', () => {
  withRepo(freshDir(), (repo, db) => {
    const s = repo.update({ 'http.port': 3128, 'http.connectPorts': '8443-8444, 443', 'sharing.enabled': true });
    assert.equal(s['http.port'], 3128);
    assert.equal(s['http.connectPorts'], '443,8443-8444');
    assert.equal(s['sharing.enabled'], true);
    assert.equal(rawRows(db)['http.connectPorts'], '"443,8443-8444"');
    assert.deepEqual(repo.load(), s);
  });
});

test('a batch with one bad value is refused whole: the error names the key and nothing is written', () => {
  withRepo(freshDir(), (repo, db) => {
    const before = rawRows(db);
    assert.throws(
      () => repo.update({ 'http.port': 3128, 'sharing.enabled': true, 'http.connectPorts': '443,90-80', 'log.retentionDays': 7 }),
      (e: unknown) => {
        assert.ok(e instanceof GatehouseError);
        assert.equal(e.code, 'E_VALIDATION');
        assert.match(e.message, /^setting http\.connectPorts: port range "90-80" is reversed$/);
        return true;
      },
    );
    assert.deepEqual(rawRows(db), before);
    assert.deepEqual(repo.load(), DEFAULT_SETTINGS);
  });
});

test('an unknown key is refused by name, and the valid changes beside it are not written', () => {
  withRepo(freshDir(), (repo, db) => {
    const before = rawRows(db);
    assert.throws(() => repo.update({ 'http.port': 3128, 'http.prot': 3129 }), (e: unknown) => {
      assert.ok(e instanceof GatehouseError);
      assert.equal(e.code, 'E_VALIDATION');
      assert.match(e.message, /unknown setting "http\.prot"/);
      assert.match(e.message, /http\.port/); // lists the known keys
      return true;
    });
    assert.deepEqual(rawRows(db), before);
  });
});

test('refuses keys inherited from Object such as __proto__ and toString', () => {
  withRepo(freshDir(), (repo) => {
    assert.throws(() => repo.update(JSON.parse('{"__proto__": {"http.port": 1}}')), /unknown setting "__proto__"/);
    assert.throws(() => repo.update({ toString: 'x' }), /unknown setting "toString"/);
    assert.deepEqual(repo.load(), DEFAULT_SETTINGS);
  });
});

test('an empty batch changes nothing', () => {
  withRepo(freshDir(), (repo) => assert.deepEqual(repo.update({}), DEFAULT_SETTINGS));
});

test('saved values survive closing and reopening, and are not reset to defaults', () => {
  const dir = freshDir();
  withRepo(dir, (repo) => repo.update({ listen: ['127.0.0.1', '::1'], 'access.allowedSources': ['10.0.0.0/8'], 'http.headerTimeout': 2.5 }));
  withRepo(dir, (repo) => {
    const s = repo.load();
    assert.deepEqual(s.listen, ['127.0.0.1', '::1']);
    assert.deepEqual(s['access.allowedSources'], ['10.0.0.0/8']);
    assert.equal(s['http.headerTimeout'], 2.5);
    assert.equal(s['http.port'], DEFAULT_SETTINGS['http.port']);
  });
});

test('a damaged stored value loads as its default, and other values are kept', () => {
  const dir = freshDir();
  withRepo(dir, (repo, db) => {
    repo.update({ 'http.port': 3128 });
    db.prepare("UPDATE settings SET value = 'not json' WHERE key = 'log.retentionDays'").run();
    db.prepare(`UPDATE settings SET value = '"90-80"' WHERE key = 'http.connectPorts'`).run();
  });
  withRepo(dir, (repo) => {
    const s = repo.load();
    assert.equal(s['log.retentionDays'], DEFAULT_SETTINGS['log.retentionDays']);
    assert.equal(s['http.connectPorts'], DEFAULT_SETTINGS['http.connectPorts']);
    assert.equal(s['http.port'], 3128);
  });
});

test('a key written by a newer version stays stored and is left out of the settings', () => {
  const dir = freshDir();
  withRepo(dir, (_repo, db) => db.prepare(`INSERT INTO settings(key, value) VALUES ('future.setting', '42')`).run());
  withRepo(dir, (repo, db) => {
    assert.equal('future.setting' in repo.load(), false);
    repo.update({ 'http.port': 3128 });
    assert.equal(rawRows(db)['future.setting'], '42');
  });
});

test('a second connection to the same file sees the changes of the first', () => {
  const dir = freshDir();
  const a = openDb(dir);
  const b = openDb(dir);
  try {
    new SettingsRepo(a).update({ 'http.connectPorts': '443,8443-8444' });
    assert.equal(new SettingsRepo(b).load()['http.connectPorts'], '443,8443-8444');
  } finally {
    a.close();
    b.close();
  }
});

test('meta values are stored, replaced and read back; a missing one is undefined', () => {
  withRepo(freshDir(), (_repo, db) => {
    assert.equal(getMeta(db, 'admin.token'), undefined);
    setMeta(db, 'admin.token', 'one');
    setMeta(db, 'admin.token', 'two');
    assert.equal(getMeta(db, 'admin.token'), 'two');
  });
});
