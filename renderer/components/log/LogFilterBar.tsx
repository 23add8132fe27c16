/**
 * The log viewer's filter bar: a text search over hosts and URLs, time range
 * presets, quick chips for status class, service and allowed/denied, and the
 * filters set elsewhere (a click on a client, user or host) as removable chips.
 */
import { useEffect, useState } from 'react';
import type { LogFilter, StatusClass } from '../../../main/contract/index.js';
import { useApp } from '../../store/hooks.js';

const RANGES = [
  { id: 'all', label: 'All', ms: 0 },
  { id: '15m', label: '15 min', ms: 15 * 60_000 },
  { id: '1h', label: '1 hour', ms: 3_600_000 },
  { id: '24h', label: '24 hours', ms: 86_400_000 },
  { id: '7d', label: '7 days', ms: 7 * 86_400_000 },
] as const;

const CLASSES: Array<{ id: StatusClass; label: string; tone: string }> = [
  { id: '2xx', label: '2xx', tone: 'ok' },
  { id: '3xx', label: '3xx', tone: 'redirect' },
  { id: '4xx', label: '4xx', tone: 'client' },
  { id: '5xx', label: '5xx', tone: 'server' },
  { id: 'other', label: 'Other', tone: 'none' },
];

const SERVICES = [
  { id: 'http', label: 'HTTP' },
  { id: 'socks', label: 'SOCKS' },
  { id: 'mapping', label: 'Mapping' },
];

function toggle<T>(list: readonly T[] | undefined, v: T): T[] {
  const l = list ?? [];
  return l.includes(v) ? l.filter((x) => x !== v) : [...l, v];
}

function Toggle({ on, onClick, children, tone, testId }: { on: boolean; onClick: () => void; children: React.ReactNode; tone?: string; testId?: string }) {
  return (
    <button type="button" className={`lv-chip ${on ? 'is-on' : ''} ${tone ? `tone-${tone}` : ''}`} aria-pressed={on} onClick={onClick} data-testid={testId}>
      {children}
    </button>
  );
}

/** The range preset a filter's `from` came from (within a minute of now), if any. */
function rangeOf(f: LogFilter, rangeId: string): string {
  if (f.from === undefined && f.to === undefined) return 'all';
  return rangeId;
}

export function LogFilterBar() {
  const filter = useApp((s) => s.vFilter);
  const setFilter = useApp((s) => s.setLogFilter);
  const replace = useApp((s) => s.replaceLogFilter);
  const [text, setText] = useState(filter.text ?? '');
  const [range, setRange] = useState<string>('all');

  // the text box follows the filter when it changes elsewhere (cleared, a host clicked)
  useEffect(() => setText(filter.text ?? ''), [filter.text]);

  const picked: Array<{ key: string; label: string; clear: () => void }> = [];
  for (const c of filter.clients ?? []) picked.push({ key: `c:${c}`, label: `client ${c}`, clear: () => setFilter({ clients: toggle(filter.clients, c) }) });
  for (const u of filter.users ?? []) picked.push({ key: `u:${u}`, label: `user ${u}`, clear: () => setFilter({ users: toggle(filter.users, u) }) });
  for (const h of filter.hosts ?? []) picked.push({ key: `h:${h}`, label: `host ${h}`, clear: () => setFilter({ hosts: toggle(filter.hosts, h) }) });
  for (const m of filter.methods ?? []) picked.push({ key: `m:${m}`, label: `method ${m}`, clear: () => setFilter({ methods: toggle(filter.methods, m) }) });
  for (const r of filter.rules ?? []) picked.push({ key: `r:${r}`, label: `rule ${r}`, clear: () => setFilter({ rules: toggle(filter.rules, r) }) });
  for (const st of filter.statuses ?? []) picked.push({ key: `s:${st}`, label: `status ${st}`, clear: () => setFilter({ statuses: toggle(filter.statuses, st) }) });
  if (filter.minBytes !== undefined) picked.push({ key: 'mb', label: `≥ ${filter.minBytes} bytes`, clear: () => setFilter({ minBytes: undefined }) });
  if (filter.minDurationMs !== undefined) picked.push({ key: 'md', label: `≥ ${filter.minDurationMs} ms`, clear: () => setFilter({ minDurationMs: undefined }) });
  if (filter.to !== undefined) picked.push({ key: 'to', label: `before ${new Date(filter.to).toLocaleString()}`, clear: () => setFilter({ to: undefined }) });
  if (filter.from !== undefined && range === 'custom') picked.push({ key: 'from', label: `from ${new Date(filter.from).toLocaleString()}`, clear: () => setFilter({ from: undefined }) });

  const anything = Object.keys(filter).length > 0;
  const current = rangeOf(filter, range);

  return (
    <div className="lv-filters" data-testid="lv-filters">
      <div className="lv-filter-row">
        <form
          className="lv-search"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            setFilter({ text: text.trim() || undefined });
          }}
        >
          <svg width="15" height="15" viewBox="0 0 24 24" aria-hidden="true" className="lv-search-icon">
            <circle cx="11" cy="11" r="6.5" fill="none" stroke="currentColor" strokeWidth="2" />
            <path d="M16 16l4.5 4.5" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
          </svg>
          <input
            type="search"
            className="input lv-search-input"
            placeholder="Search hosts and URLs (words or their beginnings)"
            aria-label="Search hosts and URLs"
            value={text}
            spellCheck={false}
            onChange={(e) => {
              setText(e.target.value);
              setFilter({ text: e.target.value.trim() || undefined });
            }}
          />
        </form>
        <div className="lv-seg" role="group" aria-label="Time range">
          {RANGES.map((r) => (
            <button
              key={r.id}
              type="button"
              className={`lv-seg-btn ${current === r.id ? 'is-on' : ''}`}
              aria-pressed={current === r.id}
              onClick={() => {
                setRange(r.id);
                setFilter({ from: r.ms ? Date.now() - r.ms : undefined, to: undefined });
              }}
            >
              {r.label}
            </button>
          ))}
        </div>
      </div>
      <div className="lv-filter-row lv-chip-row">
        <span className="lv-chip-group" role="group" aria-label="Status">
          {CLASSES.map((c) => (
            <Toggle key={c.id} tone={c.tone} on={filter.statusClasses?.includes(c.id) ?? false} onClick={() => setFilter({ statusClasses: toggle(filter.statusClasses, c.id) })} testId={`lv-status-${c.id}`}>
              {c.label}
            </Toggle>
          ))}
        </span>
        <span className="lv-chip-group" role="group" aria-label="Service">
          {SERVICES.map((s) => (
            <Toggle key={s.id} on={filter.services?.includes(s.id) ?? false} onClick={() => setFilter({ services: toggle(filter.services, s.id) })}>
              {s.label}
            </Toggle>
          ))}
        </span>
        <span className="lv-chip-group" role="group" aria-label="Decision">
          <Toggle on={filter.allowed === true} onClick={() => setFilter({ allowed: filter.allowed === true ? undefined : true })}>
            Allowed
          </Toggle>
          <Toggle tone="server" on={filter.allowed === false} onClick={() => setFilter({ allowed: filter.allowed === false ? undefined : false })} testId="lv-denied">
            Denied
          </Toggle>
        </span>
        {picked.map((p) => (
          <span key={p.key} className="chip lv-picked" data-testid="lv-picked">
            <span className="chip-text">{p.label}</span>
            <button type="button" className="chip-x" aria-label={`Remove ${p.label}`} onClick={p.clear}>
              ×
            </button>
          </span>
        ))}
        {anything && (
          <button
            type="button"
            className="link lv-clear"
            onClick={() => {
              setRange('all');
              setText('');
              replace({});
            }}
          >
            Clear filters
          </button>
        )}
      </div>
    </div>
  );
}
