/**
 * List inputs shown as chips. TagInput takes free text (addresses, hosts):
 * Enter, comma, space or leaving the field turns what was typed into a chip,
 * and a chip can be taken back with × or Backspace. ChipSelect picks from
 * known names (groups, users) with a menu of those not chosen yet.
 */
import { useState, type KeyboardEvent } from 'react';

function Chip({ text, label, onRemove, tone }: { text: string; label?: string; onRemove?: () => void; tone?: string }) {
  return (
    <span className={`chip ${tone ?? ''}`} data-testid="chip">
      <span className="chip-text">{label ?? text}</span>
      {onRemove && (
        <button type="button" className="chip-x" aria-label={`Remove ${label ?? text}`} onClick={onRemove}>
          ×
        </button>
      )}
    </span>
  );
}

export function ChipList({ items, empty, label }: { items: readonly string[]; empty?: string; label?: (v: string) => string }) {
  if (items.length === 0) return empty ? <span className="muted small">{empty}</span> : null;
  return (
    <span className="chips">
      {items.map((t) => (
        <Chip key={t} text={t} label={label?.(t)} />
      ))}
    </span>
  );
}

/** Splits typed text into entries (commas, spaces, new lines), trimmed, without empties. */
export function splitEntries(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function TagInput({
  id,
  values,
  onChange,
  placeholder,
  describedBy,
  invalid,
}: {
  id: string;
  values: string[];
  onChange: (v: string[]) => void;
  placeholder?: string;
  describedBy?: string;
  invalid?: boolean;
}) {
  const [text, setText] = useState('');
  const commit = (raw = text) => {
    const add = splitEntries(raw).filter((v) => !values.includes(v));
    if (add.length) onChange([...values, ...add]);
    setText('');
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter' || e.key === ',') {
      if (text.trim()) {
        e.preventDefault();
        commit();
      } else if (e.key === ',') e.preventDefault();
    } else if (e.key === 'Backspace' && text === '' && values.length > 0) {
      e.preventDefault();
      onChange(values.slice(0, -1));
    }
  };
  return (
    <div className={`chip-field ${invalid ? 'is-invalid' : ''}`}>
      {values.map((v) => (
        <Chip key={v} text={v} onRemove={() => onChange(values.filter((x) => x !== v))} />
      ))}
      <input
        id={id}
        className="chip-input mono"
        value={text}
        spellCheck={false}
        autoComplete="off"
        placeholder={values.length ? 'add another…' : placeholder}
        aria-describedby={describedBy}
        onChange={(e) => {
          const t = e.target.value;
          // pasting "a, b c" or typing a space after an entry makes chips at once
          if (/[\s,]/.test(t.slice(-1)) && t.trim()) commit(t);
          else setText(t);
        }}
        onKeyDown={onKeyDown}
        onBlur={() => commit()}
      />
    </div>
  );
}

export interface ChipOption {
  value: string;
  label: string;
}

export function ChipSelect({
  id,
  values,
  options,
  onChange,
  emptyText,
  addLabel,
  describedBy,
}: {
  id: string;
  values: string[];
  options: ChipOption[];
  onChange: (v: string[]) => void;
  /** shown when there is nothing to choose from */
  emptyText: string;
  /** the first entry of the menu, e.g. "Add a group…" */
  addLabel: string;
  describedBy?: string;
}) {
  const labelOf = (v: string) => options.find((o) => o.value === v)?.label ?? v;
  const left = options.filter((o) => !values.includes(o.value));
  return (
    <div className="chip-field chip-select">
      {values.map((v) => (
        <Chip
          key={v}
          text={v}
          label={labelOf(v)}
          tone={options.some((o) => o.value === v) ? undefined : 'chip-unknown'}
          onRemove={() => onChange(values.filter((x) => x !== v))}
        />
      ))}
      {options.length === 0 && values.length === 0 ? (
        <span className="muted small chip-empty">{emptyText}</span>
      ) : left.length > 0 ? (
        <select
          id={id}
          className="chip-menu"
          value=""
          aria-describedby={describedBy}
          onChange={(e) => {
            if (e.target.value) onChange([...values, e.target.value]);
          }}
        >
          <option value="">{addLabel}</option>
          {left.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      ) : null}
    </div>
  );
}
