/**
 * Who must sign in, per proxy: settings http.login and socks.login as a small
 * control with what each choice means. Users and the rules that name them only
 * count for a proxy where sign-in is optional or required.
 */
import { useApp } from '../store/hooks.js';
import type { LoginMode, LoginService } from '../store/users.js';
import { Segmented } from './Segmented.js';

const MODES: Array<{ value: LoginMode; label: string; title: string }> = [
  { value: 'off', label: 'Off', title: 'Nobody is asked to sign in' },
  { value: 'optional', label: 'Optional', title: 'Devices may sign in; those that do are known by name' },
  { value: 'required', label: 'Required', title: 'Every device must sign in with a user name and password' },
];

const EXPLAIN: Record<LoginMode, string> = {
  off: 'Nobody is asked to sign in, so rules that name users or groups never match here.',
  optional: 'Devices may sign in; those that do are matched by name, the others count as nobody.',
  required: 'Every device must sign in with a user and password from the list below.',
};

const SERVICES: Array<{ service: LoginService; label: string; how: string }> = [
  { service: 'http', label: 'HTTP/HTTPS proxy', how: 'Browsers ask for the name and password (Proxy-Authorization).' },
  { service: 'socks', label: 'SOCKS proxy', how: 'SOCKS5 clients send the name and password; SOCKS4 cannot sign in.' },
];

/** The current mode of a proxy, from the settings slice (null before settings load). */
export function useLoginMode(service: LoginService): LoginMode | null {
  return useApp((s) => (s.settings.find((f) => f.key === `${service}.login`)?.text as LoginMode | undefined) ?? null);
}

function ModeRow({ service, label, how }: { service: LoginService; label: string; how: string }) {
  const mode = useLoginMode(service);
  const pending = useApp((s) => s.loginPending === service);
  const busy = useApp((s) => s.loginPending !== null);
  const setMode = useApp((s) => s.setLoginMode);
  return (
    <div className="login-row" data-testid={`login-${service}`} data-mode={mode ?? ''}>
      <div className="login-label">
        <span className="login-name">{label}</span>
        <span className="muted small">{how}</span>
      </div>
      <div className="login-control">
        <Segmented
          label={`Sign-in for the ${label}`}
          value={mode}
          options={MODES}
          disabled={busy}
          onChange={(m) => void setMode(service, m)}
        />
        {pending && <span className="spinner spinner-sm" aria-label="Saving" />}
      </div>
      <p className="login-explain small">{mode ? EXPLAIN[mode] : 'Loading…'}</p>
    </div>
  );
}

export function LoginModes() {
  const error = useApp((s) => s.loginError);
  const dismiss = useApp((s) => s.dismissLoginError);
  const setView = useApp((s) => s.setView);
  return (
    <section className="card login-card" aria-labelledby="login-title">
      <div className="card-head">
        <h2 id="login-title">Sign-in</h2>
        <button type="button" className="link small" onClick={() => setView('settings', 'http.login')}>
          Open in Settings
        </button>
      </div>
      <div className="login-rows">
        {SERVICES.map((s) => (
          <ModeRow key={s.service} {...s} />
        ))}
      </div>
      {error && (
        <p className="field-error" role="alert">
          Could not change sign-in: {error.message} {error.hint}{' '}
          <button type="button" className="link" onClick={dismiss}>
            Dismiss
          </button>
        </p>
      )}
    </section>
  );
}
