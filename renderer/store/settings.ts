/**
 * Settings slice: every setting as the server describes it (key, description,
 * current value as text), the user's unsaved edits, and per-field save state.
 * An edit stays in `drafts` until the server accepts it, so a rejected value is
 * never lost; the server's validation message is shown beside the field.
 */
import { formatSetting, type Output, type Settings } from '../../main/contract/index.js';
import { toUiError, type UiError } from './errors.js';
import type { SliceDeps } from './types.js';

export interface SettingField {
  key: string;
  description: string;
  example: string;
  /** the saved value, in text form */
  text: string;
  defaultText: string;
}

export interface SettingsSlice {
  settings: SettingField[];
  settingsLoaded: boolean;
  settingsError: UiError | null;
  drafts: Record<string, string>;
  fieldErrors: Record<string, string>;
  saving: Record<string, boolean>;
  /** key → time of the last successful save (drives the "Saved" mark) */
  savedAt: Record<string, number>;
  loadSettings(): Promise<void>;
  editSetting(key: string, text: string): void;
  revertSetting(key: string): void;
  saveSetting(key: string): Promise<boolean>;
  /** takes new values from the server (save result or settings event) */
  applySettings(values: Settings): void;
}

type Entry = Output<'settings.describe'>[number];

function toField(e: Entry): SettingField {
  return {
    key: e.key,
    description: e.description,
    example: e.example,
    text: e.text,
    defaultText: formatSetting(e.default),
  };
}

function without<T>(rec: Record<string, T>, key: string): Record<string, T> {
  if (!(key in rec)) return rec;
  const next = { ...rec };
  delete next[key];
  return next;
}

export function createSettingsSlice({ set, get, call }: SliceDeps): SettingsSlice {
  return {
    settings: [],
    settingsLoaded: false,
    settingsError: null,
    drafts: {},
    fieldErrors: {},
    saving: {},
    savedAt: {},

    async loadSettings() {
      try {
        const entries = await call('settings.describe', {});
        set({ settings: entries.map(toField), settingsLoaded: true, settingsError: null });
      } catch (e) {
        set({ settingsLoaded: true, settingsError: toUiError(e) });
      }
    },

    editSetting(key, text) {
      const field = get().settings.find((f) => f.key === key);
      const { drafts, fieldErrors } = get();
      set({
        drafts: field && field.text === text ? without(drafts, key) : { ...drafts, [key]: text },
        fieldErrors: without(fieldErrors, key),
        savedAt: without(get().savedAt, key),
      });
    },

    revertSetting(key) {
      set({ drafts: without(get().drafts, key), fieldErrors: without(get().fieldErrors, key) });
    },

    async saveSetting(key) {
      const draft = get().drafts[key];
      if (draft === undefined || get().saving[key]) return true;
      set({ saving: { ...get().saving, [key]: true }, fieldErrors: without(get().fieldErrors, key) });
      try {
        const values = await call('settings.setText', { key, value: draft });
        // the field may have been edited again while saving: keep that newer text
        const drafts = get().drafts[key] === draft ? without(get().drafts, key) : get().drafts;
        set({ drafts, savedAt: { ...get().savedAt, [key]: Date.now() } });
        get().applySettings(values);
        return true;
      } catch (e) {
        const err = toUiError(e);
        const message = err.code === 'E_VALIDATION' ? err.message : `${err.message} ${err.hint}`;
        set({ fieldErrors: { ...get().fieldErrors, [key]: message } });
        return false;
      } finally {
        set({ saving: without(get().saving, key) });
      }
    },

    applySettings(values) {
      const rec = values as Record<string, unknown>;
      set({
        settings: get().settings.map((f) => (f.key in rec ? { ...f, text: formatSetting(rec[f.key]) } : f)),
      });
    },
  };
}
