/** Top bar: brand, page tabs, and a compact sharing indicator. */
import { useApp } from '../store/hooks.js';
import type { View } from '../store/ui.js';
import { Logo } from './Logo.js';

const TABS: Array<{ view: View; label: string; title?: string }> = [
  { view: 'dashboard', label: 'Dashboard' },
  { view: 'log', label: 'Log' },
  { view: 'stats', label: 'Statistics' },
  { view: 'users', label: 'Users' },
  { view: 'rules', label: 'Rules' },
  { view: 'mappings', label: 'Mappings', title: 'Port mappings' },
  { view: 'upstream', label: 'Upstream', title: 'Upstream chains and routes' },
  { view: 'settings', label: 'Settings' },
];

export function Header() {
  const view = useApp((s) => s.view);
  const setView = useApp((s) => s.setView);
  const sharing = useApp((s) => s.status?.sharing ?? false);
  const version = useApp((s) => s.status?.version ?? '');
  const unsaved = useApp((s) => Object.keys(s.drafts).length);

  return (
    <header className="topbar">
      <div className="brand">
        <Logo />
        <span className="brand-name">Gatehouse</span>
        {version && <span className="brand-version">v{version}</span>}
      </div>
      <nav className="tabs" aria-label="Pages">
        {TABS.map((t) => (
          <button
            key={t.view}
            type="button"
            className="tab"
            title={t.title}
            aria-current={view === t.view ? 'page' : undefined}
            onClick={() => setView(t.view)}
          >
            {t.label}
            {t.view === 'settings' && unsaved > 0 && (
              <span className="tab-badge" title={`${unsaved} unsaved change${unsaved > 1 ? 's' : ''}`}>
                {unsaved}
              </span>
            )}
          </button>
        ))}
      </nav>
      <div className={`topbar-state ${sharing ? 'is-on' : 'is-off'}`} aria-live="polite">
        <span className="dot" aria-hidden="true" />
        {sharing ? 'Sharing on' : 'Sharing off'}
      </div>
    </header>
  );
}
