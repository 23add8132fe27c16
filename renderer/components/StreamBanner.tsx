/** A thin banner while the live event stream to Gatehouse is down (it reconnects by itself). */
import { useApp } from '../store/hooks.js';

export function StreamBanner() {
  const stream = useApp((s) => s.stream);
  if (stream !== 'reconnecting') return null;
  return (
    <div className="stream-banner" role="status">
      <span className="spinner spinner-sm" aria-hidden="true" />
      Lost the live connection to Gatehouse — reconnecting… Live updates resume by themselves.
    </div>
  );
}
