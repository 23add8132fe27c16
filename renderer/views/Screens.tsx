/** Full-page states before the app can show anything: loading, not signed in, unreachable. */
import { useEffect, useState } from 'react';
import { Logo } from '../components/Logo.js';
import { useApp } from '../store/hooks.js';

export function LoadingScreen() {
  return (
    <div className="screen">
      <div className="screen-card" role="status">
        <Logo size={40} />
        <span className="spinner" aria-hidden="true" />
        <p>Connecting to Gatehouse…</p>
      </div>
    </div>
  );
}

export function AuthScreen() {
  return (
    <div className="screen">
      <div className="screen-card" role="alert">
        <Logo size={40} />
        <h1>Sign-in needed</h1>
        <p className="screen-lead">Open the admin link printed by Gatehouse (it contains the access token).</p>
        <p className="muted">
          The link looks like <code>http://127.0.0.1:8088/?token=…</code>. Find it in the output of{' '}
          <code>gatehouse serve</code>, or open the web admin from the Gatehouse window. The link signs this browser in
          once; after that this page works without it.
        </p>
      </div>
    </div>
  );
}

const RETRY_MS = 5000;

export function UnreachableScreen() {
  const error = useApp((s) => s.phaseError);
  const retry = useApp((s) => s.retry);
  const [trying, setTrying] = useState(false);
  const again = () => {
    setTrying(true);
    void retry().finally(() => setTrying(false));
  };
  // keep trying on our own, so the page recovers when Gatehouse is back
  useEffect(() => {
    const t = setInterval(() => void retry(), RETRY_MS);
    return () => clearInterval(t);
  }, [retry]);
  return (
    <div className="screen">
      <div className="screen-card" role="alert">
        <Logo size={40} />
        <h1>Gatehouse is not answering</h1>
        {error && <p className="screen-lead">{error.message}</p>}
        <p className="muted">
          {error?.hint ?? 'Check that Gatehouse is still running, then try again.'} This page retries every{' '}
          {RETRY_MS / 1000} seconds.
        </p>
        <button type="button" className="btn btn-primary" disabled={trying} onClick={again}>
          {trying ? 'Trying…' : 'Try again now'}
        </button>
      </div>
    </div>
  );
}
