/**
 * One hop of a chain in the chain editor: kind, host, port, user and
 * password, with move and remove buttons. A saved password is never shown;
 * the field says whether leaving it empty keeps it (the hop is where it was,
 * with the same host, port and user) or loses it.
 */
import { HOP_KINDS, type HopKind } from '../../../main/contract/index.js';

export interface HopDraft {
  key: number;
  kind: HopKind;
  host: string;
  port: string;
  user: string;
  password: string;
  /** take the saved password away */
  forget: boolean;
  /** the hop as saved, when it has a password: where it was and who it was */
  saved: { index: number; host: string; port: string; user: string } | null;
}

export const KIND_LABEL: Record<HopKind, string> = { http: 'HTTP (CONNECT)', socks4a: 'SOCKS4a', socks5: 'SOCKS5' };
const DEFAULT_PORT: Record<HopKind, string> = { http: '3128', socks4a: '1080', socks5: '1080' };

/** Whether leaving the password empty keeps the saved one (the server keeps it only for the same hop in the same place). */
export function keepsPassword(h: HopDraft, index: number): boolean {
  const s = h.saved;
  return !!s && !h.forget && h.kind !== 'socks4a' && s.index === index && s.host === h.host.trim().replace(/^\[|\]$/g, '').toLowerCase() && s.port === h.port.trim() && s.user === h.user.trim();
}

/** "socks5://alice@proxy.example:1080" pasted into the host field, as parts. */
export function parseHopUrl(text: string): Partial<HopDraft> | null {
  const m = /^(https?|socks4a?|socks5h?):\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/i.exec(text.trim());
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  const kind: HopKind = scheme.startsWith('http') ? 'http' : scheme.startsWith('socks4') ? 'socks4a' : 'socks5';
  const out: Partial<HopDraft> = { kind, host: m[3]!.replace(/^\[|\]$/g, '') };
  if (m[4]) out.port = m[4];
  if (m[2]) out.user = decodeURIComponent(m[2].split(':')[0]!);
  return out;
}

export function HopFields({
  hop,
  index,
  count,
  invalid,
  onChange,
  onMove,
  onRemove,
}: {
  hop: HopDraft;
  index: number;
  count: number;
  invalid: boolean;
  onChange: (p: Partial<HopDraft>) => void;
  onMove: (to: number) => void;
  onRemove: () => void;
}) {
  const n = index + 1;
  const id = (f: string) => `hop-${hop.key}-${f}`;
  const keeps = keepsPassword(hop, index);
  const loses = !!hop.saved && !keeps && !hop.forget && !hop.password && hop.kind !== 'socks4a';
  return (
    <li className={`hop-edit ${invalid ? 'is-invalid' : ''}`} data-testid="hop-edit">
      <div className="hop-edit-head">
        <span className="hop-num">{n}</span>
        <span className="field-label">{index === 0 ? 'First hop (reached from this PC)' : `Hop ${n} (reached through hop ${index})`}</span>
        <span className="move-buttons hop-edit-buttons">
          <button type="button" className="btn btn-icon" disabled={index === 0} aria-label={`Move hop ${n} up`} onClick={() => onMove(index - 1)}>
            ↑
          </button>
          <button type="button" className="btn btn-icon" disabled={index === count - 1} aria-label={`Move hop ${n} down`} onClick={() => onMove(index + 1)}>
            ↓
          </button>
          <button type="button" className="btn btn-icon btn-danger-ghost" disabled={count === 1} aria-label={`Remove hop ${n}`} onClick={onRemove}>
            ×
          </button>
        </span>
      </div>
      <div className="hop-grid">
        <div className="field">
          <label htmlFor={id('kind')}>Kind</label>
          <select
            id={id('kind')}
            className="input select"
            value={hop.kind}
            onChange={(e) => {
              const kind = e.target.value as HopKind;
              // a port still at the old kind's usual value follows the new kind
              onChange(hop.port === DEFAULT_PORT[hop.kind] || !hop.port ? { kind, port: DEFAULT_PORT[kind] } : { kind });
            }}
          >
            {HOP_KINDS.map((k) => (
              <option key={k} value={k}>
                {KIND_LABEL[k]}
              </option>
            ))}
          </select>
        </div>
        <div className="field hop-host">
          <label htmlFor={id('host')}>Host</label>
          <input
            id={id('host')}
            className="input mono"
            value={hop.host}
            spellCheck={false}
            autoComplete="off"
            placeholder="proxy.example.com"
            onChange={(e) => onChange({ host: e.target.value })}
            onBlur={(e) => {
              const parsed = parseHopUrl(e.target.value);
              if (parsed) onChange(parsed);
            }}
          />
        </div>
        <div className="field hop-port">
          <label htmlFor={id('port')}>Port</label>
          <input id={id('port')} className="input mono" inputMode="numeric" value={hop.port} onChange={(e) => onChange({ port: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor={id('user')}>{hop.kind === 'socks4a' ? 'User id' : 'User'}</label>
          <input id={id('user')} className="input" value={hop.user} autoComplete="off" placeholder="optional" onChange={(e) => onChange({ user: e.target.value })} />
        </div>
        {hop.kind !== 'socks4a' && (
          <div className="field">
            <label htmlFor={id('password')}>Password</label>
            <input
              id={id('password')}
              className="input"
              type="password"
              autoComplete="new-password"
              value={hop.password}
              disabled={hop.forget}
              placeholder={keeps ? '(saved)' : 'optional'}
              aria-describedby={id('pw-help')}
              onChange={(e) => onChange({ password: e.target.value })}
            />
          </div>
        )}
      </div>
      {hop.saved && hop.kind !== 'socks4a' && (
        <p className={`field-help ${loses ? 'hop-warn' : ''}`} id={id('pw-help')}>
          {hop.forget
            ? 'The saved password will be removed. '
            : keeps
              ? 'A password is saved: leave the field empty to keep it, or type a new one. '
              : loses
                ? 'The saved password belongs to this hop as it was (same place, host, port and user): type it again, or it is dropped. '
                : 'The new password replaces the saved one. '}
          <button type="button" className="link small" onClick={() => onChange({ forget: !hop.forget, password: '' })}>
            {hop.forget ? 'Keep it' : 'Remove the saved password'}
          </button>
        </p>
      )}
    </li>
  );
}
