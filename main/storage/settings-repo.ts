/**
 * Settings in SQLite: one row per key, JSON values. Missing keys are filled
 * with defaults on first open; updates are validated as a whole first and then
 * written in one transaction, so nothing is ever half-saved.
 */
import {
  DEFAULT_SETTINGS,
  SETTING_KEYS,
  isSettingKey,
  validateSetting,
  unknownSettingError,
  type SettingKey,
  type Settings,
} from '../contract/index.js';
import type { Db } from './db.js';

export class SettingsRepo {
  private readonly selectAll;
  private readonly upsert;

  constructor(private readonly db: Db) {
    this.selectAll = db.prepare<[], { key: string; value: string }>('SELECT key, value FROM settings');
    this.upsert = db.prepare('INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    const existing = new Set(this.selectAll.all().map((r) => r.key));
    const missing = SETTING_KEYS.filter((k) => !existing.has(k));
    if (missing.length) {
      db.transaction(() => {
        for (const k of missing) this.upsert.run(k, JSON.stringify(DEFAULT_SETTINGS[k]));
      })();
    }
  }

  load(): Settings {
    const out: Record<string, unknown> = { ...DEFAULT_SETTINGS };
    for (const { key, value } of this.selectAll.all()) {
      if (!isSettingKey(key)) continue; // a key from a newer version: keep it stored, ignore it
      try {
        out[key] = validateSetting(key, JSON.parse(value));
      } catch {
        // a damaged value falls back to its default rather than stopping the gateway
        out[key] = DEFAULT_SETTINGS[key];
      }
    }
    return out as Settings;
  }

  /** Validates every change, then saves them all in one transaction. */
  update(changes: Record<string, unknown>): Settings {
    const clean: [SettingKey, unknown][] = [];
    for (const [key, value] of Object.entries(changes)) {
      if (!isSettingKey(key)) {
        throw unknownSettingError(key);
      }
      clean.push([key, validateSetting(key, value)]);
    }
    this.db.transaction(() => {
      for (const [k, v] of clean) this.upsert.run(k, JSON.stringify(v));
    })();
    return this.load();
  }
}

export function getMeta(db: Db, key: string): string | undefined {
  const row = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key);
  return row?.value;
}

export function setMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
}
