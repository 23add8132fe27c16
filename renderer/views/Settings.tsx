/**
 * Settings: every setting the server describes, grouped by its key prefix,
 * each with a text field saved on its own (Enter or Save). A rejected value
 * stays in the field with the server's message under it.
 */
import { useEffect, useRef } from 'react';
import { useApp } from '../store/hooks.js';
import type { SettingField } from '../store/settings.js';
import { ErrorCallout } from '../components/ErrorCallout.js';

const GROUPS: Array<{ prefix: string; title: string }> = [
  { prefix: '', title: 'General' },
  { prefix: 'http', title: 'HTTP/HTTPS proxy' },
  { prefix: 'access', title: 'Access' },
  { prefix: 'admin', title: 'Web admin' },
  { prefix: 'log', title: 'Request log' },
];

function groupOf(key: string): string {
  const prefix = key.includes('.') ? key.slice(0, key.indexOf('.')) : '';
  return GROUPS.some((g) => g.prefix === prefix) ? prefix : '';
}

function SettingRow({ field }: { field: SettingField }) {
  const draft = useApp((s) => s.drafts[field.key]);
  const error = useApp((s) => s.fieldErrors[field.key]);
  const saving = useApp((s) => s.saving[field.key] ?? false);
  const saved = useApp((s) => s.savedAt[field.key] !== undefined);
  const edit = useApp((s) => s.editSetting);
  const revert = useApp((s) => s.revertSetting);
  const save = useApp((s) => s.saveSetting);
  const focusKey = useApp((s) => s.focusKey);
  const clearFocusKey = useApp((s) => s.clearFocusKey);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (focusKey !== field.key || !input.current) return;
    input.current.scrollIntoView({ block: 'center' });
    input.current.focus();
    input.current.select();
    clearFocusKey();
  }, [focusKey, field.key, clearFocusKey]);

  const id = `setting-${field.key}`;
  const dirty = draft !== undefined;
  const value = draft ?? field.text;

  return (
    <form
      className={`setting ${error ? 'has-error' : ''} ${dirty ? 'is-dirty' : ''}`}
      data-testid={`setting-${field.key}`}
      onSubmit={(e) => {
        e.preventDefault();
        void save(field.key);
      }}
    >
      <div className="setting-info">
        <label htmlFor={id} className="setting-key mono">
          {field.key}
        </label>
        <p className="setting-desc" id={`${id}-desc`}>
          {field.description}
        </p>
        <p className="setting-meta">
          Example: <code className="mono">{field.example}</code>
          <span className="sep" aria-hidden="true">·</span>
          Default: <code className="mono">{field.defaultText}</code>
        </p>
      </div>
      <div className="setting-edit">
        <div className="setting-controls">
          <input
            ref={input}
            id={id}
            className="input mono"
            type="text"
            spellCheck={false}
            autoComplete="off"
            value={value}
            aria-invalid={error ? true : undefined}
            aria-describedby={`${id}-desc${error ? ` ${id}-error` : ''}`}
            onChange={(e) => edit(field.key, e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Escape' && dirty) {
                e.preventDefault();
                revert(field.key);
              }
            }}
          />
          <button type="submit" className="btn btn-primary" disabled={!dirty || saving}>
            {saving ? 'Saving…' : 'Save'}
          </button>
          {dirty && !saving && (
            <button type="button" className="btn btn-ghost" onClick={() => revert(field.key)} title={`Back to ${field.text}`}>
              Revert
            </button>
          )}
        </div>
        {error ? (
          <p className="field-error" id={`${id}-error`} role="alert">
            {error}
          </p>
        ) : saved && !dirty ? (
          <p className="field-ok" role="status">
            ✓ Saved
          </p>
        ) : dirty ? (
          <p className="field-hint">Unsaved. Press Enter to save, Esc to undo.</p>
        ) : null}
      </div>
    </form>
  );
}

export function SettingsView() {
  const fields = useApp((s) => s.settings);
  const loaded = useApp((s) => s.settingsLoaded);
  const error = useApp((s) => s.settingsError);
  const reload = useApp((s) => s.loadSettings);

  return (
    <div className="settings-page">
      <div className="page-head">
        <h1>Settings</h1>
        <p className="muted">
          Each setting is saved on its own and applies at once; the proxy restarts when a change needs it.
        </p>
      </div>
      {error && <ErrorCallout title="Could not load the settings" error={error} onDismiss={() => void reload()} />}
      {!loaded && <p className="muted">Loading settings…</p>}
      {GROUPS.map((g) => {
        const inGroup = fields.filter((f) => groupOf(f.key) === g.prefix);
        if (inGroup.length === 0) return null;
        return (
          <section key={g.prefix || 'general'} className="card settings-group" aria-labelledby={`group-${g.prefix || 'general'}`}>
            <h2 id={`group-${g.prefix || 'general'}`}>{g.title}</h2>
            {inGroup.map((f) => (
              <SettingRow key={f.key} field={f} />
            ))}
          </section>
        );
      })}
    </div>
  );
}
