/**
 * The Statistics page: for a chosen period, the traffic over time (bytes down
 * and up, requests and denials) drawn with recharts, totals, and the busiest
 * clients, users and hosts. Clicking one of them opens the Log filtered by it
 * for the same period.
 */
import { useEffect } from 'react';
import { Area, AreaChart, Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { StatDim, TopItem } from '../../main/contract/index.js';
import { useApp } from '../store/hooks.js';
import { PERIODS, TOP_DIMS, periodRange } from '../store/stats.js';
import { ErrorCallout } from '../components/ErrorCallout.js';
import { formatBytes, formatCount } from '../format.js';

function tick(t: number, bucketMs: number): string {
  const d = new Date(t);
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  if (bucketMs >= 86_400_000) return `${d.getMonth() + 1}/${d.getDate()}`;
  if (bucketMs >= 3_600_000) return `${d.getMonth() + 1}/${d.getDate()} ${hm}`;
  return hm;
}

function Total({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div className="card stat st-total" data-testid={testId}>
      <span className="stat-label">{label}</span>
      <span className="stat-value">{value}</span>
    </div>
  );
}

const DIM_TITLE: Record<StatDim, string> = { client: 'Top clients', user: 'Top users', host: 'Top hosts', service: 'Services' };

function TopList({ dim, items }: { dim: StatDim; items: TopItem[] | undefined }) {
  const by = useApp((s) => s.statsBy);
  const period = useApp((s) => s.statsPeriod);
  const setView = useApp((s) => s.setView);
  const replace = useApp((s) => s.replaceLogFilter);
  const value = (i: TopItem) => (by === 'bytes' ? i.bytesUp + i.bytesDown : i.requests);
  const max = Math.max(1, ...(items ?? []).map(value));
  const open = (key: string) => {
    const { from } = periodRange(period);
    const filter = dim === 'client' ? { clients: [key] } : dim === 'user' ? { users: [key] } : dim === 'host' ? { hosts: [key] } : { services: [key] };
    replace({ ...filter, from });
    setView('log');
  };
  return (
    <section className="card st-top" aria-labelledby={`top-${dim}`} data-testid={`st-top-${dim}`}>
      <h2 id={`top-${dim}`}>{DIM_TITLE[dim]}</h2>
      {items && items.length === 0 && <p className="muted small">{dim === 'user' ? 'Nobody signed in during this period.' : 'No traffic in this period.'}</p>}
      <ol className="st-list">
        {(items ?? []).map((i) => (
          <li key={i.key}>
            <button type="button" className="st-item" onClick={() => open(i.key)} title={`Show the log of ${i.key}`}>
              <span className="st-key mono">{i.key}</span>
              <span className="st-val">{by === 'bytes' ? formatBytes(i.bytesUp + i.bytesDown) : formatCount(i.requests)}</span>
              <span className="st-bar" aria-hidden="true">
                <span style={{ width: `${(value(i) / max) * 100}%` }} />
              </span>
            </button>
          </li>
        ))}
      </ol>
    </section>
  );
}

export function StatsView() {
  const period = useApp((s) => s.statsPeriod);
  const setPeriod = useApp((s) => s.setStatsPeriod);
  const by = useApp((s) => s.statsBy);
  const setBy = useApp((s) => s.setStatsBy);
  const traffic = useApp((s) => s.statsTraffic);
  const top = useApp((s) => s.statsTop);
  const loading = useApp((s) => s.statsLoading);
  const error = useApp((s) => s.statsError);
  const load = useApp((s) => s.loadStats);

  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), 30_000);
    return () => clearInterval(t);
  }, [load]);

  const bucket = traffic?.bucketMs ?? 60_000;
  const data = (traffic?.points ?? []).map((p) => ({ ...p, allowedReq: p.requests - p.denied }));
  const totals = traffic?.totals;

  return (
    <div className="stats-page">
      <div className="lv-head-row">
        <div>
          <h1>Statistics</h1>
          <p className="muted small">
            {traffic ? `${new Date(traffic.from).toLocaleString()} – ${new Date(traffic.to).toLocaleString()}, in steps of ${bucket >= 3_600_000 ? `${bucket / 3_600_000} h` : `${bucket / 60_000} min`}` : ' '}
            {loading && <span className="spinner spinner-xs st-spin" aria-label="Loading" />}
          </p>
        </div>
        <div className="lv-actions">
          <div className="lv-seg" role="group" aria-label="Period">
            {PERIODS.map((p) => (
              <button key={p.id} type="button" className={`lv-seg-btn ${period === p.id ? 'is-on' : ''}`} aria-pressed={period === p.id} onClick={() => setPeriod(p.id)}>
                {p.label}
              </button>
            ))}
          </div>
          <div className="lv-seg" role="group" aria-label="Rank by">
            <button type="button" className={`lv-seg-btn ${by === 'bytes' ? 'is-on' : ''}`} aria-pressed={by === 'bytes'} onClick={() => setBy('bytes')}>
              By data
            </button>
            <button type="button" className={`lv-seg-btn ${by === 'requests' ? 'is-on' : ''}`} aria-pressed={by === 'requests'} onClick={() => setBy('requests')}>
              By requests
            </button>
          </div>
        </div>
      </div>
      {error && <ErrorCallout title="Could not load the statistics" error={error} onDismiss={() => void load()} />}
      <div className="st-totals">
        <Total label="Requests" value={totals ? formatCount(totals.requests) : '—'} testId="st-requests" />
        <Total label="Data to clients" value={totals ? formatBytes(totals.bytesDown) : '—'} />
        <Total label="Data from clients" value={totals ? formatBytes(totals.bytesUp) : '—'} />
        <Total label="Denied" value={totals ? formatCount(totals.denied) : '—'} />
      </div>
      <section className="card st-chart" aria-labelledby="st-traffic">
        <h2 id="st-traffic">Traffic</h2>
        <div className="st-chart-box" data-testid="st-traffic-chart">
          <ResponsiveContainer width="100%" height={240}>
            <AreaChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 8 }}>
              <CartesianGrid stroke="#eef1f5" vertical={false} />
              <XAxis dataKey="t" tickFormatter={(t: number) => tick(t, bucket)} minTickGap={40} tick={{ fontSize: 11, fill: '#556072' }} />
              <YAxis tickFormatter={(v: number) => formatBytes(v)} width={64} tick={{ fontSize: 11, fill: '#556072' }} />
              <Tooltip labelFormatter={(t) => new Date(Number(t)).toLocaleString()} formatter={(v, name) => [formatBytes(Number(v)), name]} />
              <Area type="monotone" dataKey="bytesDown" name="to clients" stackId="1" stroke="#2459d6" fill="#2459d6" fillOpacity={0.25} isAnimationActive={false} />
              <Area type="monotone" dataKey="bytesUp" name="from clients" stackId="1" stroke="#157a3b" fill="#157a3b" fillOpacity={0.25} isAnimationActive={false} />
            </AreaChart>
          </ResponsiveContainer>
        </div>
        <h2 className="st-sub">Requests</h2>
        <div className="st-chart-box">
          <ResponsiveContainer width="100%" height={150}>
            <BarChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 8 }}>
              <CartesianGrid stroke="#eef1f5" vertical={false} />
              <XAxis dataKey="t" tickFormatter={(t: number) => tick(t, bucket)} minTickGap={40} tick={{ fontSize: 11, fill: '#556072' }} />
              <YAxis width={64} tick={{ fontSize: 11, fill: '#556072' }} allowDecimals={false} />
              <Tooltip labelFormatter={(t) => new Date(Number(t)).toLocaleString()} />
              <Bar dataKey="allowedReq" name="allowed" stackId="r" fill="#7b9be6" isAnimationActive={false} />
              <Bar dataKey="denied" name="denied" stackId="r" fill="#d9534f" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
      </section>
      <div className="st-tops">
        {TOP_DIMS.map((d) => (
          <TopList key={d} dim={d} items={top[d]} />
        ))}
      </div>
    </div>
  );
}
