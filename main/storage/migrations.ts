/**
 * Numbered schema migrations. Each runs in its own transaction and bumps
 * PRAGMA user_version, so a database is always at a known version and a
 * half-applied migration never persists. Append only: never edit a shipped one.
 */
import type Database from 'better-sqlite3';

export const MIGRATIONS: readonly string[] = [
  // 1: settings and the request log
  `
  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE log (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    service TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    client_port INTEGER NOT NULL,
    user TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    port INTEGER NOT NULL DEFAULT 0,
    status INTEGER NOT NULL DEFAULT 0,
    bytes_up INTEGER NOT NULL DEFAULT 0,
    bytes_down INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    allowed INTEGER NOT NULL DEFAULT 1,
    rule TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX log_ts ON log(ts);
  CREATE INDEX log_client ON log(client_addr, ts);
  CREATE INDEX log_host ON log(host, ts);
  `,
  // 2: users and groups
  `
  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    pass_hash TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    note TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
  );
  CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    note TEXT NOT NULL DEFAULT ''
  );
  CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX group_members_user ON group_members(user_id);
  `,
  // 3: datagram counts for UDP rows
  `
  ALTER TABLE log ADD COLUMN packets_up INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE log ADD COLUMN packets_down INTEGER NOT NULL DEFAULT 0;
  `,
  // 4: access rules, in order; the first-run rule lets the local network in
  `
  CREATE TABLE rules (
    id INTEGER PRIMARY KEY,
    position INTEGER NOT NULL,
    data TEXT NOT NULL
  );
  CREATE INDEX rules_position ON rules(position);
  INSERT INTO rules(position, data) VALUES (0, json('{"name":"Local network","enabled":true,"action":"allow","services":[],"sources":["local"],"users":[],"groups":[],"destinations":[],"ports":"","schedule":null,"limits":null,"note":"Devices on this network may use every service. Rules above this one can restrict them."}'));
  `,
  // 5: the log viewer: indexes for its filters and sorts (each ends in ts, so a filtered
  // listing comes out in time order without sorting), full-text search over host and URL
  // (contentless: the text stays in log; rows are added by the log writer, removed by a
  // trigger), and per-minute and per-hour aggregates per client, user, host and service
  // (dim 0 = everything, 1 client, 2 user, 3 host, 4 service), kept by the log writer in
  // the same transaction as the rows. Existing rows are indexed and counted here.
  `
  CREATE INDEX log_user ON log(user, ts);
  CREATE INDEX log_status ON log(status, ts);
  CREATE INDEX log_rule ON log(rule, ts);
  CREATE INDEX log_denied ON log(ts) WHERE allowed = 0;
  CREATE INDEX log_duration ON log(duration_ms);
  CREATE INDEX log_bytes ON log((bytes_up + bytes_down));

  CREATE VIRTUAL TABLE log_fts USING fts5(text, content='', contentless_delete=1);
  CREATE TRIGGER log_fts_delete AFTER DELETE ON log BEGIN
    DELETE FROM log_fts WHERE rowid = old.id;
  END;
  INSERT INTO log_fts(rowid, text)
    SELECT id, CASE WHEN instr(url, host) > 0 THEN url ELSE host || ' ' || url END FROM log;

  CREATE TABLE log_agg (
    res INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    key TEXT NOT NULL,
    requests INTEGER NOT NULL,
    denied INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    bytes_up INTEGER NOT NULL,
    bytes_down INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (res, dim, bucket, key)
  ) WITHOUT ROWID;
  INSERT INTO log_agg (res, dim, bucket, key, requests, denied, errors, bytes_up, bytes_down, duration_ms)
    SELECT r.res, d.dim, ts - ts % r.res,
      CASE d.dim WHEN 0 THEN '' WHEN 1 THEN client_addr WHEN 2 THEN user WHEN 3 THEN host ELSE service END,
      count(*), sum(allowed = 0), sum(error != ''), sum(bytes_up), sum(bytes_down), sum(duration_ms)
    FROM log,
      (SELECT 60000 AS res UNION ALL SELECT 3600000) AS r,
      (SELECT 0 AS dim UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) AS d
    WHERE d.dim != 2 OR user != ''
    GROUP BY 1, 2, 3, 4;
  `,
  // 6: a version per kind of configuration, bumped by triggers, so a running gateway
  // can tell a CLI edit of settings, users or rules from the log's own writes
  // (which change PRAGMA data_version several times a second under traffic)
  `
  CREATE TABLE config_version (part TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO config_version(part, v) VALUES ('settings', 0), ('users', 0), ('rules', 0);
  CREATE TRIGGER settings_insert_version AFTER INSERT ON settings BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'settings'; END;
  CREATE TRIGGER settings_update_version AFTER UPDATE ON settings BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'settings'; END;
  CREATE TRIGGER settings_delete_version AFTER DELETE ON settings BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'settings'; END;
  CREATE TRIGGER users_insert_version AFTER INSERT ON users BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'users'; END;
  CREATE TRIGGER users_update_version AFTER UPDATE ON users BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'users'; END;
  CREATE TRIGGER users_delete_version AFTER DELETE ON users BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'users'; END;
  CREATE TRIGGER groups_insert_version AFTER INSERT ON groups BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'users'; END;
  CREATE TRIGGER groups_update_version AFTER UPDATE ON groups BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'users'; END;
  CREATE TRIGGER groups_delete_version AFTER DELETE ON groups BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'users'; END;
  CREATE TRIGGER group_members_insert_version AFTER INSERT ON group_members BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'users'; END;
  CREATE TRIGGER group_members_update_version AFTER UPDATE ON group_members BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'users'; END;
  CREATE TRIGGER group_members_delete_version AFTER DELETE ON group_members BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'users'; END;
  CREATE TRIGGER rules_insert_version AFTER INSERT ON rules BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'rules'; END;
  CREATE TRIGGER rules_update_version AFTER UPDATE ON rules BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'rules'; END;
  CREATE TRIGGER rules_delete_version AFTER DELETE ON rules BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'rules'; END;
  `,
  // 7: port mappings, upstream chains (hops with their credentials, in data) and routes
  // (ordered like rules); one config version for the three; log rows name the chain that
  // carried them and the mapping they came through
  `
  CREATE TABLE mappings (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
  CREATE TABLE chains (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, data TEXT NOT NULL);
  CREATE TABLE routes (id INTEGER PRIMARY KEY, position INTEGER NOT NULL, data TEXT NOT NULL);
  INSERT INTO config_version(part, v) VALUES ('tunnels', 0);
  ${['mappings', 'chains', 'routes']
    .flatMap((t) =>
      ['INSERT', 'UPDATE', 'DELETE'].map(
        (op) => `CREATE TRIGGER ${t}_${op.toLowerCase()}_version AFTER ${op} ON ${t} BEGIN UPDATE config_version SET v = v + 1 WHERE part = 'tunnels'; END;`,
      ),
    )
    .join('\n  ')}
  ALTER TABLE log ADD COLUMN chain TEXT NOT NULL DEFAULT '';
  ALTER TABLE log ADD COLUMN mapping TEXT NOT NULL DEFAULT '';
  `,
];

export function migrate(db: Database.Database): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `database schema version ${current} is newer than this Gatehouse knows (${MIGRATIONS.length}); update Gatehouse`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return MIGRATIONS.length;
}
