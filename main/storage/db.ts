/**
 * Opens the one SQLite file of a data directory: WAL mode, a busy timeout so
 * the CLI and a running gateway can share it, and the migrations applied.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from './migrations.js';

export type Db = Database.Database;

export const DB_FILE = 'gatehouse.db';

export function openDb(dataDir: string, opts: { readonly?: boolean } = {}): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, DB_FILE), { readonly: opts.readonly ?? false });
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a power loss may drop the last transactions, never corrupts
    db.pragma('synchronous = NORMAL');
    try {
      migrate(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }
  return db;
}

/** Changes whenever another connection commits: a cheap way to notice CLI edits. */
export function dataVersion(db: Db): number {
  return db.pragma('data_version', { simple: true }) as number;
}

export interface ConfigVersions {
  settings: number;
  users: number;
  rules: number;
}

/** The versions of settings, users and rules (bumped by triggers, migration 6). */
export function configVersions(db: Db): ConfigVersions {
  const out: ConfigVersions = { settings: 0, users: 0, rules: 0 };
  for (const r of db.prepare<[], { part: keyof ConfigVersions; v: number }>('SELECT part, v FROM config_version').all()) out[r.part] = r.v;
  return out;
}
