/** The app frame: sign-in and unreachable screens, header with navigation, the current page. */
import { lazy, Suspense } from 'react';
import { useApp } from './store/hooks.js';
import { Header } from './components/Header.js';
import { StreamBanner } from './components/StreamBanner.js';
import { Dashboard } from './views/Dashboard.js';
import { SettingsView } from './views/Settings.js';
import { UsersView } from './views/Users.js';
import { RulesView } from './views/Rules.js';
import { LogView } from './views/Log.js';
import { MappingsView } from './views/Mappings.js';
import { UpstreamView } from './views/Upstream.js';
import { AuthScreen, LoadingScreen, UnreachableScreen } from './views/Screens.js';

// the charts library is big: the Statistics page loads it when first opened
const StatsView = lazy(() => import('./views/Stats.js').then((m) => ({ default: m.StatsView })));

export function App() {
  const phase = useApp((s) => s.phase);
  const view = useApp((s) => s.view);

  if (phase === 'loading') return <LoadingScreen />;
  if (phase === 'unauthorized') return <AuthScreen />;
  if (phase === 'unreachable') return <UnreachableScreen />;

  return (
    <div className="app">
      <Header />
      <StreamBanner />
      <main className="page" id="main">
        {view === 'dashboard' && <Dashboard />}
        {view === 'log' && <LogView />}
        {view === 'stats' && (
          <Suspense fallback={<p className="muted">Loading statistics…</p>}>
            <StatsView />
          </Suspense>
        )}
        {view === 'users' && <UsersView />}
        {view === 'rules' && <RulesView />}
        {view === 'mappings' && <MappingsView />}
        {view === 'upstream' && <UpstreamView />}
        {view === 'settings' && <SettingsView />}
      </main>
    </div>
  );
}
