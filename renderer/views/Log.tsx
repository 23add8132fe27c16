/**
 * The Log page: every request on disk, filtered and sorted on the server and
 * scrolled through in a virtualized table; the selected row's details beside
 * it; live mode; column choice; export to CSV, JSON lines or HAR with progress;
 * and the size of the log against its limits.
 */
import { useEffect, useRef, useState } from 'react';
import type { ExportFormat } from '../../main/contract/index.js';
import { useApp } from '../store/hooks.js';
import { LOG_COLUMNS } from '../store/viewer.js';
import { LogTable, COLUMN_LABELS } from '../components/log/LogTable.js';
import { LogFilterBar } from '../components/log/LogFilterBar.js';
import { LogDetail } from '../components/log/LogDetail.js';
import { ErrorCallout } from '../components/ErrorCallout.js';
import { formatBytes, formatCount } from '../format.js';

function useOutsideClose(open: boolean, close: () => void) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) close();
    };
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && close();
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open, close]);
  return ref;
}

function ColumnsMenu() {
  const cols = useApp((s) => s.vColumns);
  const setCol = useApp((s) => s.setLogColumn);
  const [open, setOpen] = useState(false);
  const ref = useOutsideClose(open, () => setOpen(false));
  return (
    <div className="lv-menu-wrap" ref={ref}>
      <button type="button" className="btn btn-small" aria-expanded={open} onClick={() => setOpen(!open)}>
        Columns
      </button>
      {open && (
        <div className="lv-menu" role="menu" aria-label="Columns">
          {LOG_COLUMNS.map((c) => (
            <label key={c} className="lv-menu-item">
              <input type="checkbox" checked={cols[c]} disabled={c === 'url'} onChange={(e) => setCol(c, e.target.checked)} /> {COLUMN_LABELS[c]}
            </label>
          ))}
        </div>
      )}
    </div>
  );
}

const FORMATS: Array<{ id: ExportFormat; label: string; note: string }> = [
  { id: 'csv', label: 'CSV', note: 'spreadsheets' },
  { id: 'jsonl', label: 'JSON lines', note: 'one row per line' },
  { id: 'har', label: 'HAR', note: 'HTTP requests, for browser tools' },
];

function ExportMenu() {
  const start = useApp((s) => s.startExport);
  const running = useApp((s) => s.vExport?.state === 'running');
  const [open, setOpen] = useState(false);
  const ref = useOutsideClose(open, () => setOpen(false));
  return (
    <div className="lv-menu-wrap" ref={ref}>
      <button type="button" className="btn btn-small" aria-expanded={open} disabled={running} onClick={() => setOpen(!open)}>
        Export…
      </button>
      {open && (
        <div className="lv-menu" role="menu" aria-label="Export format">
          <p className="lv-menu-note muted small">The rows that match the filter, in this order:</p>
          {FORMATS.map((f) => (
            <button
              key={f.id}
              type="button"
              role="menuitem"
              className="lv-menu-item lv-menu-button"
              onClick={() => {
                setOpen(false);
                void start(f.id);
              }}
            >
              <b>{f.label}</b> <span className="muted small">{f.note}</span>
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

function ExportStatus() {
  const job = useApp((s) => s.vExport);
  const error = useApp((s) => s.vExportError);
  const cancel = useApp((s) => s.cancelExport);
  const dismiss = useApp((s) => s.dismissExport);
  if (error) return <ErrorCallout title="Could not start the export" error={error} onDismiss={dismiss} />;
  if (!job) return null;
  const pct = job.total ? Math.min(100, Math.round(((job.rows + job.skipped) / Math.max(1, job.total)) * 100)) : null;
  // the web admin serves finished exports; in the desktop window the file is on this PC already
  const downloadable = typeof window !== 'undefined' && !window.gatehouse;
  return (
    <div className={`lv-export card is-${job.state}`} role="status" data-testid="lv-export" data-state={job.state}>
      <div className="lv-export-main">
        <strong>
          {job.state === 'running' && `Exporting ${job.format.toUpperCase()}…`}
          {job.state === 'done' && `Exported ${formatCount(job.rows)} rows`}
          {job.state === 'canceled' && 'Export canceled'}
          {job.state === 'failed' && 'Export failed'}
        </strong>
        <span className="muted small">
          {job.state === 'running' && (job.total === null ? 'counting rows…' : `${formatCount(job.rows + job.skipped)} of ${formatCount(job.total)} rows · ${formatBytes(job.bytes)}`)}
          {job.state === 'done' && `${formatBytes(job.bytes)}${job.skipped ? ` · ${formatCount(job.skipped)} rows that are not HTTP requests left out` : ''}`}
          {job.state === 'failed' && job.error}
        </span>
        {job.state === 'running' && (
          <div className="lv-progress" aria-label="Export progress" aria-valuenow={pct ?? undefined} aria-valuemin={0} aria-valuemax={100} role="progressbar">
            <div className="lv-progress-bar" style={{ width: `${pct ?? 3}%` }} />
          </div>
        )}
        {job.state === 'done' && (
          <span className="small lv-export-path">
            Saved as <code className="mono">{job.path}</code>
          </span>
        )}
      </div>
      <div className="lv-export-actions">
        {job.state === 'running' && (
          <button type="button" className="btn btn-small" onClick={() => void cancel()}>
            Cancel
          </button>
        )}
        {job.state === 'done' && downloadable && (
          <a className="btn btn-primary btn-small" href={`/api/exports/${encodeURIComponent(job.file)}`} download={job.file} data-testid="lv-download">
            Download
          </a>
        )}
        {job.state !== 'running' && (
          <button type="button" className="btn btn-ghost btn-small" onClick={dismiss}>
            Close
          </button>
        )}
      </div>
    </div>
  );
}

function Summary() {
  const count = useApp((s) => s.vCount);
  const counting = useApp((s) => s.vCounting);
  const live = useApp((s) => s.vLive.length);
  const took = useApp((s) => s.vTookMs);
  const fresh = useApp((s) => s.vNew);
  const reload = useApp((s) => s.reloadLog);
  return (
    <div className="lv-summary" aria-live="polite">
      <span data-testid="lv-count">
        {count === null ? (counting ? 'Counting…' : '') : `${formatCount(count + live)} ${count + live === 1 ? 'request' : 'requests'}`}
      </span>
      {took !== null && <span className="muted small">first page in {took < 1 ? '<1' : Math.round(took)} ms</span>}
      {fresh > 0 && (
        <button type="button" className="lv-new" onClick={() => void reload()} data-testid="lv-new">
          {formatCount(fresh)} new — show
        </button>
      )}
    </div>
  );
}

function SizeLine() {
  const info = useApp((s) => s.vInfo);
  const load = useApp((s) => s.loadLogInfo);
  const setView = useApp((s) => s.setView);
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), 15_000);
    return () => clearInterval(t);
  }, [load]);
  if (!info) return null;
  const limits = [
    `${info.retentionDays} days`,
    info.maxRows ? `${formatCount(info.maxRows)} rows` : null,
    info.maxSizeMB ? `${formatCount(info.maxSizeMB)} MB` : null,
  ]
    .filter(Boolean)
    .join(', ');
  return (
    <p className="lv-size muted small" data-testid="lv-size">
      Database {formatBytes(info.dbBytes + info.walBytes)} · about {formatCount(info.rows)} rows
      {info.oldestTs ? ` since ${new Date(info.oldestTs).toLocaleDateString()}` : ''} · keeps at most {limits}{' '}
      <button type="button" className="link" onClick={() => setView('settings', 'log.retentionDays')}>
        change
      </button>
    </p>
  );
}

export function LogView() {
  const loaded = useApp((s) => s.vMaxId !== null);
  const reload = useApp((s) => s.reloadLog);
  const selected = useApp((s) => s.vSelected);
  const error = useApp((s) => s.vError);
  const liveMode = useApp((s) => s.vLiveMode);
  const setLive = useApp((s) => s.setLiveMode);

  useEffect(() => {
    if (!loaded) void reload();
  }, [loaded, reload]);

  return (
    <div className="log-page">
      <div className="lv-head-row">
        <div>
          <h1>Request log</h1>
          <SizeLine />
        </div>
        <div className="lv-actions">
          <Summary />
          <button
            type="button"
            className={`btn btn-small lv-live ${liveMode ? 'is-on' : ''}`}
            aria-pressed={liveMode}
            onClick={() => setLive(!liveMode)}
            data-testid="lv-live"
            title="Show new requests as they happen"
          >
            <span className="live-dot" aria-hidden="true" /> Live
          </button>
          <ColumnsMenu />
          <ExportMenu />
        </div>
      </div>
      <LogFilterBar />
      <ExportStatus />
      {error && <ErrorCallout title="Could not read the log" error={error} onDismiss={() => void reload()} />}
      <div className={`lv-main ${selected ? 'has-detail' : ''}`}>
        <LogTable />
        {selected && <LogDetail row={selected} />}
      </div>
    </div>
  );
}
