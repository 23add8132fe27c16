/**
 * "How to connect a device": the proxy address and port for each LAN address
 * of this PC, with a copy button, and short steps for Windows, macOS and
 * browsers using the first address.
 */
import { useState } from 'react';
import { useApp } from '../store/hooks.js';
import { httpService, proxyEndpoints, socksService, urlHost, type Endpoint } from '../endpoints.js';
import { CopyButton } from './CopyButton.js';

type Os = 'windows' | 'macos' | 'browsers' | 'cli';

const OS_TABS: Array<{ id: Os; label: string }> = [
  { id: 'windows', label: 'Windows' },
  { id: 'macos', label: 'macOS' },
  { id: 'browsers', label: 'Browsers' },
  { id: 'cli', label: 'Command line' },
];

function Steps({ os, ep }: { os: Os; ep: Endpoint }) {
  const a = <strong className="mono">{ep.host}</strong>;
  const p = <strong className="mono">{ep.port}</strong>;
  switch (os) {
    case 'windows':
      return (
        <ol className="steps">
          <li>Open <b>Settings → Network &amp; internet → Proxy</b>.</li>
          <li>Under <b>Manual proxy setup</b>, choose <b>Set up</b> (or <b>Edit</b>) and turn on <b>Use a proxy server</b>.</li>
          <li>Proxy IP address: {a}, Port: {p}. Choose <b>Save</b>.</li>
        </ol>
      );
    case 'macos':
      return (
        <ol className="steps">
          <li>Open <b>System Settings → Network</b>, pick your Wi‑Fi or Ethernet, then <b>Details… → Proxies</b>.</li>
          <li>Turn on <b>Web proxy (HTTP)</b> and <b>Secure web proxy (HTTPS)</b>.</li>
          <li>For both: server {a}, port {p}. Choose <b>OK</b>.</li>
        </ol>
      );
    case 'browsers':
      return (
        <ol className="steps">
          <li><b>Chrome, Edge, Safari</b> use the system proxy: follow the Windows or macOS steps.</li>
          <li><b>Firefox</b>: Settings → General → <b>Network Settings…</b> → <b>Manual proxy configuration</b>.</li>
          <li>HTTP Proxy {a}, Port {p}, and tick <b>Also use this proxy for HTTPS</b>.</li>
        </ol>
      );
    case 'cli':
      return (
        <ol className="steps">
          <li>
            Most tools read <code className="mono">http_proxy</code> and <code className="mono">https_proxy</code>:{' '}
            <code className="mono">export https_proxy=http://{urlHost(ep.host)}:{ep.port}</code>
          </li>
          <li>
            Try it: <code className="mono">curl -x http://{urlHost(ep.host)}:{ep.port} http://example.com/</code>
          </li>
        </ol>
      );
  }
}

export function ConnectCard() {
  const status = useApp((s) => s.status);
  const setView = useApp((s) => s.setView);
  const [os, setOs] = useState<Os>('windows');
  const http = httpService(status);
  const endpoints = proxyEndpoints(status, http);
  const socksEndpoints = proxyEndpoints(status, socksService(status));
  const first = endpoints[0];
  const onlyLocal = endpoints.length > 0 && endpoints.every((e) => e.localOnly);

  return (
    <section className="card connect" aria-labelledby="connect-title">
      <h2 id="connect-title">How to connect a device</h2>
      {!first ? (
        <p className="muted">
          {status?.sharing
            ? 'The HTTP proxy is not running yet, so there is no address to give devices.'
            : 'Turn on sharing above; the address and port that devices should use will appear here.'}
        </p>
      ) : (
        <>
          <p className="muted">On each device, set this PC as its HTTP and HTTPS proxy:</p>
          <ul className="endpoint-list" data-testid="proxy-endpoints">
            {endpoints.map((ep) => (
              <li key={`${ep.host}|${ep.port}`} className="endpoint">
                <span className="endpoint-text">
                  HTTP proxy: <strong className="mono">{ep.host}</strong> port <strong className="mono">{ep.port}</strong>
                </span>
                {ep.localOnly && <span className="tag">this PC only</span>}
                <CopyButton text={`${urlHost(ep.host)}:${ep.port}`} label={`Copy ${ep.host} port ${ep.port}`} />
              </li>
            ))}
          </ul>
          {socksEndpoints.length > 0 && (
            <>
              <p className="muted">Apps that speak SOCKS (mail, games, ssh, torrents) can use SOCKS5 or SOCKS4 instead:</p>
              <ul className="endpoint-list" data-testid="socks-endpoints">
                {socksEndpoints.map((ep) => (
                  <li key={`socks|${ep.host}|${ep.port}`} className="endpoint">
                    <span className="endpoint-text">
                      SOCKS proxy: <strong className="mono">{ep.host}</strong> port <strong className="mono">{ep.port}</strong>
                    </span>
                    {ep.localOnly && <span className="tag">this PC only</span>}
                    <CopyButton text={`${urlHost(ep.host)}:${ep.port}`} label={`Copy SOCKS ${ep.host} port ${ep.port}`} />
                  </li>
                ))}
              </ul>
            </>
          )}
          {onlyLocal && (
            <p className="note">
              The proxy listens on a loopback address, so only this PC can use it. To share it with the network, set{' '}
              <button type="button" className="link" onClick={() => setView('settings', 'listen')}>
                listen
              </button>{' '}
              to <code className="mono">*</code> in Settings.
            </p>
          )}
          <div className="os-tabs" role="tablist" aria-label="Device type">
            {OS_TABS.map((t) => (
              <button
                key={t.id}
                type="button"
                role="tab"
                id={`os-tab-${t.id}`}
                aria-selected={os === t.id}
                aria-controls="os-panel"
                className="os-tab"
                onClick={() => setOs(t.id)}
              >
                {t.label}
              </button>
            ))}
          </div>
          <div className="os-panel" id="os-panel" role="tabpanel" aria-labelledby={`os-tab-${os}`}>
            <Steps os={os} ep={first} />
          </div>
        </>
      )}
    </section>
  );
}
