/** The per-kind configuration versions (migration 6) move with settings, users and rules, not with the log. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configVersions, openDb } from '../../main/storage/db.js';
import { SettingsRepo } from '../../main/storage/settings-repo.js';
import { UsersRepo } from '../../main/storage/users-repo.js';
import { RulesRepo } from '../../main/storage/rules-repo.js';
import { LogWriter } from '../../main/storage/log-writer.js';
import { EMPTY_RULE } from '../../main/contract/index.js';

test('settings, users and rules each bump their own version; log rows bump none', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-cv-'));
  const db = openDb(dir);
  try {
    const v0 = configVersions(db);
    const w = new LogWriter(db);
    w.push({ ts: Date.now(), service: 'http', clientAddr: '127.0.0.1', clientPort: 1, user: '', method: 'GET', url: 'http://x/', host: 'x', port: 80, status: 200, bytesUp: 1, bytesDown: 1, packetsUp: 0, packetsDown: 0, durationMs: 1, allowed: true, rule: '', error: '', chain: '', mapping: '' });
    w.close();
    assert.deepEqual(configVersions(db), v0, 'a log row changes no configuration version');
    new SettingsRepo(db).update({ 'http.port': 8181 });
    const v1 = configVersions(db);
    assert.ok(v1.settings > v0.settings);
    assert.deepEqual([v1.users, v1.rules], [v0.users, v0.rules]);
    // storage stores what it is given: a stand-in hasher (the policy's scrypt is not storage's concern)
    const users = new UsersRepo(db, async (pw) => `test:${pw}`);
    await users.add({ name: 'gil', password: 'pw' });
    users.addGroup({ name: 'crew', members: ['gil'] });
    const v2 = configVersions(db);
    assert.ok(v2.users > v1.users);
    assert.equal(v2.rules, v1.rules);
    new RulesRepo(db, () => ({ users: new Set(['gil']), groups: new Set(['crew']) })).add({ ...EMPTY_RULE, name: 'r' });
    assert.ok(configVersions(db).rules > v2.rules);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
