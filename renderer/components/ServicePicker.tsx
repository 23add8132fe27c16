/**
 * Which services a rule or route is about: the HTTP/HTTPS proxy, the SOCKS
 * proxy, every port mapping, or single mappings by name ("mapping:NAME").
 * A mapping the list names that no longer exists stays shown, ticked, so it
 * can be taken out.
 */
import { useApp } from '../store/hooks.js';

const FIXED = [
  { value: 'http', label: 'HTTP/HTTPS' },
  { value: 'socks', label: 'SOCKS' },
  { value: 'mapping', label: 'Port mappings (all)' },
] as const;

function Check({ value, label, values, onChange }: { value: string; label: string; values: readonly string[]; onChange: (v: string[]) => void }) {
  const on = values.includes(value);
  return (
    <label className="check">
      <input type="checkbox" checked={on} onChange={(e) => onChange(e.target.checked ? [...values, value] : values.filter((x) => x !== value))} />
      <span>{label}</span>
    </label>
  );
}

export function ServicePicker<T extends string>({
  values,
  onChange,
  label = 'Services',
  help = 'None ticked: every service.',
}: {
  values: readonly T[];
  onChange: (v: T[]) => void;
  label?: string;
  help?: string;
}) {
  const mappings = useApp((s) => s.mappings);
  const change = onChange as (v: string[]) => void;
  const allMappings = values.includes('mapping' as T);
  const known = new Set(mappings.map((m) => `mapping:${m.name}`));
  const gone = values.filter((v) => v.startsWith('mapping:') && !known.has(v));
  return (
    <div className="field service-picker">
      <span className="field-label">{label}</span>
      <div className="checks">
        {FIXED.map((f) => (
          <Check key={f.value} value={f.value} label={f.label} values={values} onChange={change} />
        ))}
      </div>
      {!allMappings && (mappings.length > 0 || gone.length > 0) && (
        <div className="checks checks-sub" role="group" aria-label="Single port mappings">
          {mappings.map((m) => (
            <Check key={m.id} value={`mapping:${m.name}`} label={`mapping ${m.name}`} values={values} onChange={change} />
          ))}
          {gone.map((v) => (
            <Check key={v} value={v} label={`${v.slice('mapping:'.length)} (no longer exists)`} values={values} onChange={change} />
          ))}
        </div>
      )}
      <p className="field-help">{help}</p>
    </div>
  );
}
