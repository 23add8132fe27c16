/**
 * The settings in force: the saved ones (SettingsRepo) with this run's
 * overrides on top (CLI flags such as --http-port or --sharing, never saved).
 * Saving a key drops its override, and so does the same key saved by another
 * process (the CLI while `serve` runs): the owner's latest word wins.
 */
import { SETTING_KEYS, validateSetting, type SettingKey, type Settings } from '../contract/index.js';
import type { SettingsRepo } from '../storage/settings-repo.js';

export class ConfigState {
  private stored: Settings;
  private readonly overrides: Record<string, unknown> = {};
  private current: Settings;

  constructor(
    private readonly repo: SettingsRepo,
    overrides: Partial<Settings> = {},
  ) {
    for (const [k, v] of Object.entries(overrides)) this.overrides[k] = validateSetting(k as SettingKey, v);
    this.stored = repo.load();
    this.current = this.effective();
  }

  /** the settings in force */
  get settings(): Settings {
    return this.current;
  }

  /** the saved settings, without this run's overrides */
  get saved(): Settings {
    return this.stored;
  }

  private effective(): Settings {
    return { ...this.stored, ...this.overrides } as Settings;
  }

  /** Validates and saves the changes in one transaction (nothing is saved when one is bad). */
  save(changes: Record<string, unknown>): Settings {
    this.stored = this.repo.update(changes);
    for (const k of Object.keys(changes)) delete this.overrides[k];
    this.current = this.effective();
    return this.current;
  }

  /** Reads what another process saved; returns whether the settings in force changed. */
  reload(): boolean {
    const now = this.repo.load();
    for (const k of SETTING_KEYS) {
      if (k in this.overrides && JSON.stringify(now[k]) !== JSON.stringify(this.stored[k])) delete this.overrides[k];
    }
    this.stored = now;
    const next = this.effective();
    const changed = JSON.stringify(next) !== JSON.stringify(this.current);
    this.current = next;
    return changed;
  }
}
