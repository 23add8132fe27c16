/**
 * One upstream chain as a list item: its hops in order as URLs (a saved
 * password only as a badge, never its text), where names are looked up, and
 * the health check: each hop reached in turn from this PC, ✓ or ✗ with its
 * latency or the error, and optionally a destination reached through the
 * whole chain.
 */
import { useState } from 'react';
import type { Chain, HopCheck } from '../../../main/contract/index.js';
import { useApp } from '../../store/hooks.js';

function CheckRow({ c }: { c: HopCheck }) {
  const skipped = !c.ok && (c.error ?? '').startsWith('not checked');
  const mark = c.ok ? '✓' : skipped ? '–' : '✗';
  return (
    <li className={`hop-check ${c.ok ? 'is-ok' : skipped ? 'is-skipped' : 'is-bad'}`} data-testid="hop-check" data-ok={c.ok}>
      <span className="hop-check-mark" aria-label={c.ok ? 'reached' : skipped ? 'not checked' : 'failed'}>
        {mark}
      </span>
      <span className="mono hop-check-url">{c.url}</span>
      {!skipped && <span className="mono hop-check-ms">{c.ms} ms</span>}
      {c.error && <span className="hop-check-error">{c.error}</span>}
    </li>
  );
}

function ChainCheckPanel({ chain }: { chain: Chain }) {
  const check = useApp((s) => s.chainChecks[chain.name]);
  const run = useApp((s) => s.checkChain);
  const [probe, setProbe] = useState(check?.probe ?? '');
  const pending = check?.pending ?? false;
  const good = check?.hops?.every((h) => h.ok);
  return (
    <div className="chain-check" data-testid="chain-check">
      <form
        className="chain-check-form"
        onSubmit={(e) => {
          e.preventDefault();
          void run(chain.name, probe);
        }}
      >
        <label className="visually-hidden" htmlFor={`probe-${chain.name}`}>
          Also reach (host:port, optional)
        </label>
        <input
          id={`probe-${chain.name}`}
          className="input mono chain-probe"
          value={probe}
          spellCheck={false}
          placeholder="also reach host:port (optional)"
          title="A destination to reach through the whole chain, e.g. www.example.com:443"
          onChange={(e) => setProbe(e.target.value)}
        />
        <button type="submit" className="btn btn-small" disabled={pending} aria-label={`Check ${chain.name}`}>
          {pending ? (
            <>
              <span className="spinner spinner-xs" aria-hidden="true" /> Checking…
            </>
          ) : (
            'Check'
          )}
        </button>
      </form>
      {check?.error && (
        <p className="field-error" role="alert">
          {check.error.message}
          {check.error.code !== 'E_VALIDATION' && ` ${check.error.hint}`}
        </p>
      )}
      {check?.hops && (
        <div className={`chain-check-result ${pending ? 'is-stale' : ''}`} role="status">
          <p className={`small ${good ? 'field-ok' : 'field-error'}`}>
            {good ? 'Every hop answered.' : 'The chain does not work from here:'}
          </p>
          <ol className="hop-checks">
            {check.hops.map((c) => (
              <CheckRow key={c.hop} c={c} />
            ))}
          </ol>
        </div>
      )}
    </div>
  );
}

export function ChainCard({ chain, usedBy, onEdit, onRemove }: { chain: Chain; usedBy: number; onEdit: () => void; onRemove: () => void }) {
  return (
    <li className="chain" data-testid="chain-row" data-chain={chain.name}>
      <div className="chain-head">
        <div className="chain-title">
          <span className="rule-name">{chain.name}</span>
          <span className="muted small">
            {chain.hops.length === 1 ? 'one hop' : `${chain.hops.length} hops`}
            {' · '}
            {usedBy === 0 ? 'no route uses it yet' : `used by ${usedBy} route${usedBy === 1 ? '' : 's'}`}
          </span>
        </div>
        <div className="rule-actions">
          <button type="button" className="btn btn-small" aria-label={`Edit chain ${chain.name}`} onClick={onEdit}>
            Edit
          </button>
          <button type="button" className="btn btn-small btn-danger-ghost" aria-label={`Remove chain ${chain.name}`} onClick={onRemove}>
            Remove
          </button>
        </div>
      </div>
      <ol className="hops" aria-label={`Hops of ${chain.name}`}>
        {chain.hops.map((h, i) => (
          <li key={i} className="hop" data-testid="hop">
            <span className="hop-num">{i + 1}</span>
            <span className="mono hop-url">{h.url}</span>
            {h.hasPassword && <span className="tag tag-saved">password saved</span>}
          </li>
        ))}
      </ol>
      <p className="small chain-resolve">
        {chain.resolvesAt[0]?.toUpperCase()}
        {chain.resolvesAt.slice(1)}.
      </p>
      {chain.note && <p className="rule-note">{chain.note}</p>}
      <ChainCheckPanel chain={chain} />
    </li>
  );
}
