/**
 * "Would this be allowed?": a request described by hand (proxy, device
 * address, user, host, port, optionally a time) checked against the current
 * rules by the gateway itself. The answer names the rule that decided, which
 * the rule list highlights; built-in gates (allowed sources, CONNECT ports)
 * and the default action are named in words, with where to change them.
 * An allowed request's answer also says which way it would go out: through
 * which chain (the route list highlights the route), or direct.
 */
import { useState, type ReactNode } from 'react';
import { useApp } from '../store/hooks.js';
import { staleCause, type RuleTestInput } from '../store/rules.js';
import { Segmented } from './Segmented.js';

function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function formatWhen(time: number | undefined): string {
  const d = new Date(time ?? Date.now());
  const text = d.toLocaleString(undefined, { weekday: 'long', hour: '2-digit', minute: '2-digit', hour12: false });
  return time === undefined ? `now (${text})` : d.toLocaleString(undefined, { weekday: 'long', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false });
}

const SERVICE_WORD = { http: 'HTTP', socks: 'SOCKS', mapping: 'Port mapping' } as const;

/** The way out an allowed request would take: "Route: through corp (…)" or "Route: direct". */
function RouteLine({ text, direct }: { text: string; direct: boolean }) {
  const setView = useApp((s) => s.setView);
  const view = useApp((s) => s.view);
  return (
    <p className="decision-route" data-testid="rule-test-route">
      <span className="decision-route-label">Route:</span> {text}
      {!direct && view !== 'upstream' && (
        <>
          {' '}
          <button type="button" className="link small" onClick={() => setView('upstream')}>
            Chains &amp; routes
          </button>
        </>
      )}
    </p>
  );
}

function Decider() {
  const test = useApp((s) => s.ruleTest);
  const rules = useApp((s) => s.rules);
  const defaultAction = useApp((s) => s.defaultAction);
  const setView = useApp((s) => s.setView);
  const cause = useApp((s) => (s.ruleTest.stale ? staleCause(s) : 'rules'));
  const r = test.result;
  if (!r) return null;
  const index = r.ruleId === null ? -1 : rules.findIndex((x) => x.id === r.ruleId);
  let by: ReactNode;
  if (index >= 0) {
    by = (
      <>
        by rule {index + 1} <b>“{r.rule}”</b>
      </>
    );
  } else if (r.rule === 'default') {
    by = <>by the default action (Everything else: {defaultAction ?? (r.allow ? 'allow' : 'deny')})</>;
  } else if (r.rule === 'allowed-sources') {
    by = (
      <>
        before any rule: the device is outside{' '}
        <button type="button" className="link" onClick={() => setView('settings', 'access.allowedSources')}>
          access.allowedSources
        </button>
      </>
    );
  } else if (r.rule === 'connect-ports') {
    by = (
      <>
        before any rule: HTTPS tunnels may only reach{' '}
        <button type="button" className="link" onClick={() => setView('settings', 'http.connectPorts')}>
          http.connectPorts
        </button>
      </>
    );
  } else {
    by = (
      <>
        by <b>“{r.rule}”</b>
      </>
    );
  }
  return (
    <div className={`decision ${r.allow ? 'is-allow' : 'is-deny'} ${test.stale ? 'is-stale' : ''}`} data-testid="rule-test-result" role="status">
      <div className="decision-head">
        <span className="decision-word">{r.allow ? 'Allowed' : 'Denied'}</span>
        <span className="decision-by">{by}</span>
      </div>
      {r.ruleId === null && <p className="decision-reason">{r.reason}</p>}
      {r.allow && r.route && <RouteLine text={r.route.text} direct={r.route.chain === null} />}
      {test.input && (
        <p className="decision-when">
          {SERVICE_WORD[test.input.service]} · {test.input.user || 'nobody signed in'} · {test.input.clientAddr} →{' '}
          {test.input.host}:{test.input.port} · {formatWhen(test.input.time)}
        </p>
      )}
      {test.stale && <p className="decision-stale">The {cause} changed since this answer. Check again.</p>}
    </div>
  );
}

export function RuleTester() {
  const users = useApp((s) => s.users);
  const last = useApp((s) => s.ruleTest.input);
  const pending = useApp((s) => s.ruleTest.pending);
  const error = useApp((s) => s.ruleTest.error);
  const testRule = useApp((s) => s.testRule);
  const [service, setService] = useState<'http' | 'socks' | 'mapping'>(last?.service ?? 'http');
  const [client, setClient] = useState(last?.clientAddr ?? '192.168.1.20');
  const [user, setUser] = useState(last?.user ?? '');
  const [host, setHost] = useState(last?.host ?? '');
  const [port, setPort] = useState(last ? String(last.port) : '443');
  const [timed, setTimed] = useState(last?.time !== undefined && last !== null);
  const [time, setTime] = useState(() => toLocalInput(last?.time ?? Date.now()));
  const [problem, setProblem] = useState<string | null>(null);

  const submit = () => {
    const p = Number(port.trim());
    if (!host.trim()) return setProblem('Enter the host or address the device wants to reach, e.g. www.example.com.');
    if (!/^\d+$/.test(port.trim()) || p > 65535) return setProblem(`Port "${port}" is not a number from 0 to 65535.`);
    if (!client.trim()) return setProblem('Enter the device’s address, e.g. 192.168.1.20.');
    const when = timed ? new Date(time).getTime() : undefined;
    if (timed && !Number.isFinite(when)) return setProblem('Pick a date and time, or untick “At another time”.');
    setProblem(null);
    const input: RuleTestInput = { service, clientAddr: client.trim(), host: host.trim(), port: p };
    // nobody signs in to a port mapping
    if (user && service !== 'mapping') input.user = user;
    if (when !== undefined) input.time = when;
    void testRule(input);
  };

  return (
    <section className="card tester" aria-labelledby="tester-title" data-testid="rule-tester">
      <h2 id="tester-title">Would this be allowed?</h2>
      <p className="muted small">Describe a request; Gatehouse checks it against the rules as they are now.</p>
      <form
        className="tester-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div className="field">
          <span className="field-label">Service</span>
          <Segmented
            label="Service"
            value={service}
            options={[
              { value: 'http', label: 'HTTP/HTTPS' },
              { value: 'socks', label: 'SOCKS' },
              { value: 'mapping', label: 'Mapping', title: 'A port mapping (nobody signs in to one)' },
            ]}
            onChange={setService}
          />
        </div>
        <div className="field">
          <label htmlFor="test-client">Device address</label>
          <input id="test-client" className="input mono" value={client} placeholder="192.168.1.20" onChange={(e) => setClient(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="test-user">Signed in as</label>
          <select
            id="test-user"
            className="input select"
            value={service === 'mapping' ? '' : user}
            disabled={service === 'mapping'}
            title={service === 'mapping' ? 'Nobody signs in to a port mapping' : undefined}
            onChange={(e) => setUser(e.target.value)}
          >
            <option value="">Nobody (not signed in)</option>
            {users.map((u) => (
              <option key={u.name} value={u.name}>
                {u.name}
                {u.groups.length ? ` (${u.groups.join(', ')})` : ''}
                {u.enabled ? '' : ' — turned off, cannot sign in'}
              </option>
            ))}
          </select>
        </div>
        <div className="field-row tester-target">
          <div className="field field-grow">
            <label htmlFor="test-host">Host</label>
            <input
              id="test-host"
              className="input mono"
              value={host}
              spellCheck={false}
              placeholder="www.example.com"
              onChange={(e) => setHost(e.target.value)}
            />
          </div>
          <div className="field field-port">
            <label htmlFor="test-port">Port</label>
            <input id="test-port" className="input mono" inputMode="numeric" value={port} placeholder="443" onChange={(e) => setPort(e.target.value)} />
          </div>
        </div>
        <label className="check">
          <input type="checkbox" checked={timed} onChange={(e) => setTimed(e.target.checked)} />
          <span>At another time (default: now)</span>
        </label>
        {timed && (
          <input
            type="datetime-local"
            className="input"
            aria-label="Date and time of the request"
            value={time}
            onChange={(e) => setTime(e.target.value)}
          />
        )}
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? 'Checking…' : 'Check'}
        </button>
        {problem && (
          <p className="field-error" role="alert">
            {problem}
          </p>
        )}
        {error && (
          <p className="field-error" role="alert">
            {error.message}
            {error.code !== 'E_VALIDATION' && ` ${error.hint}`}
          </p>
        )}
      </form>
      <Decider />
    </section>
  );
}
