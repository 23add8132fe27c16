/**
 * The log viewer's table: a virtualized list (@tanstack/react-virtual) of as
 * many rows as the filter matches, with columns from @tanstack/react-table
 * (choosable, resizable by dragging a header's edge). Only the rows on screen
 * are in the DOM; the pages under them are fetched as they come into view, and
 * rows not loaded yet show as placeholders. Clicking a client, user or host
 * filters by it; clicking a row opens its details; ↑/↓ move the selection.
 */
import { memo, useEffect, useMemo, useRef, useState, type CSSProperties, type KeyboardEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import {
  columnResizingFeature,
  columnSizingFeature,
  columnVisibilityFeature,
  createColumnHelper,
  tableFeatures,
  useTable,
  type ColumnSizingState,
} from '@tanstack/react-table';
import type { LogRow, LogSort } from '../../../main/contract/index.js';
import { useApp } from '../../store/hooks.js';
import { LOG_COLUMNS, rowAt, viewLength, type LogColumn } from '../../store/viewer.js';
import { formatBytes, formatDuration, outcomeOf, routeOfRow, serviceOfRow } from '../../format.js';

export const ROW_H = 28;
/** browsers stop growing an element near 33.5 million pixels */
const MAX_ROWS = Math.floor(33_000_000 / ROW_H);

const features = tableFeatures({ columnSizingFeature, columnResizingFeature, columnVisibilityFeature });
const helper = createColumnHelper<typeof features, LogRow>();

const LABELS: Record<LogColumn, string> = {
  time: 'Time',
  client: 'Client',
  user: 'User',
  service: 'Service',
  method: 'Method',
  url: 'Host / URL',
  status: 'Status',
  bytes: 'Bytes ↑ / ↓',
  duration: 'Duration',
  rule: 'Rule',
  chain: 'Route',
};
export const COLUMN_LABELS = LABELS;

const SIZES: Record<LogColumn, number> = {
  time: 150,
  client: 130,
  user: 90,
  service: 96,
  method: 80,
  url: 420,
  status: 118,
  bytes: 130,
  duration: 86,
  rule: 120,
  chain: 110,
};

const SORT_OF: Partial<Record<LogColumn, LogSort>> = { time: 'time', bytes: 'bytes', duration: 'duration' };

const columns = LOG_COLUMNS.map((id) =>
  helper.display({ id, header: LABELS[id], size: SIZES[id], minSize: id === 'url' ? 160 : 56, maxSize: 1200 }),
);
const NO_DATA: LogRow[] = [];

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function stamp(ts: number): string {
  const d = new Date(ts);
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function Cell({ col, row }: { col: LogColumn; row: LogRow }) {
  const setFilter = useApp((s) => s.setLogFilter);
  const by = (patch: Parameters<typeof setFilter>[0]) => (e: React.MouseEvent) => {
    e.stopPropagation();
    setFilter(patch);
  };
  switch (col) {
    case 'time':
      return <span className="mono">{stamp(row.ts)}</span>;
    case 'client':
      return (
        <button type="button" className="lv-link mono" title={`Only ${row.clientAddr}`} onClick={by({ clients: [row.clientAddr] })}>
          {row.clientAddr}
        </button>
      );
    case 'user':
      return row.user ? (
        <button type="button" className="lv-link" title={`Only ${row.user}`} onClick={by({ users: [row.user] })}>
          {row.user}
        </button>
      ) : (
        <span className="lv-none">—</span>
      );
    case 'service':
      return (
        <span title={serviceOfRow(row)}>
          <span className="lv-service">{row.service}</span>
          {row.service === 'mapping' && row.mapping && <span className="lv-mapping">:{row.mapping}</span>}
        </span>
      );
    case 'method':
      return <span className="method">{row.method}</span>;
    case 'url': {
      const target = row.url || `${row.host}:${row.port}`;
      const i = row.host ? target.indexOf(row.host) : -1;
      if (i < 0) return <span className="lv-url">{target}</span>;
      return (
        <span className="lv-url" title={target}>
          {target.slice(0, i)}
          <button type="button" className="lv-link lv-host" title={`Only ${row.host}`} onClick={by({ hosts: [row.host] })}>
            {row.host}
          </button>
          {target.slice(i + row.host.length)}
        </span>
      );
    }
    case 'status':
      return (
        <span className="lv-status">
          <Outcome row={row} />
          {!row.allowed && outcomeOf(row).text !== 'refused' && <span className="tag tag-denied">denied</span>}
        </span>
      );
    case 'bytes':
      return (
        <span className="mono lv-num">
          {formatBytes(row.bytesUp)} / {formatBytes(row.bytesDown)}
        </span>
      );
    case 'duration':
      return <span className="mono lv-num">{formatDuration(row.durationMs)}</span>;
    case 'rule':
      return <span className="lv-rule">{row.rule || '—'}</span>;
    case 'chain':
      return row.chain ? (
        <span className="lv-rule" title={routeOfRow(row.chain)}>
          {row.chain}
        </span>
      ) : (
        <span className="lv-none">direct</span>
      );
  }
}

const Row = memo(function Row({
  row,
  index,
  cols,
  selected,
  style,
}: {
  row: LogRow | undefined;
  index: number;
  cols: LogColumn[];
  selected: boolean;
  style: CSSProperties;
}) {
  const select = useApp((s) => s.selectLogRow);
  if (!row) {
    return (
      <div className="lv-row is-placeholder" style={style} aria-hidden="true">
        {cols.map((c) => (
          <div key={c} className={`lv-cell lv-c-${c}`}>
            <span className="lv-skeleton" />
          </div>
        ))}
      </div>
    );
  }
  return (
    <div
      role="row"
      aria-rowindex={index + 2}
      aria-selected={selected}
      data-testid="lv-row"
      data-id={row.id}
      className={`lv-row ${row.allowed ? '' : 'is-denied'} ${selected ? 'is-selected' : ''} ${index % 2 ? 'is-odd' : ''}`}
      style={style}
      onClick={() => select(row)}
    >
      {cols.map((c) => (
        <div key={c} role="cell" className={`lv-cell lv-c-${c}`}>
          <Cell col={c} row={row} />
        </div>
      ))}
    </div>
  );
});

const SIZING_KEY = 'gatehouse.log.widths';

export function LogTable() {
  const visible = useApp((s) => s.vColumns);
  const sort = useApp((s) => s.vSort);
  const order = useApp((s) => s.vOrder);
  const setSort = useApp((s) => s.setLogSort);
  const total = useApp((s) => viewLength(s));
  const pages = useApp((s) => s.vPages);
  const live = useApp((s) => s.vLive);
  const selected = useApp((s) => s.vSelected);
  const select = useApp((s) => s.selectLogRow);
  const ensure = useApp((s) => s.ensureLogRows);
  const epoch = useApp((s) => s.vEpoch);
  const liveMode = useApp((s) => s.vLiveMode);
  const loaded = useApp((s) => s.vMaxId !== null);
  const firstLoading = useApp((s) => s.vLoading[0] === true && !s.vPages[0]);

  const [columnSizing, setColumnSizing] = useState<ColumnSizingState>(() => {
    try {
      return JSON.parse(localStorage.getItem(SIZING_KEY) ?? '{}') as ColumnSizingState;
    } catch {
      return {};
    }
  });
  useEffect(() => {
    try {
      localStorage.setItem(SIZING_KEY, JSON.stringify(columnSizing));
    } catch {
      // the widths last this session
    }
  }, [columnSizing]);

  const columnVisibility = useMemo(() => ({ ...visible }), [visible]);
  const table = useTable({
    features,
    columns,
    data: NO_DATA,
    columnResizeMode: 'onChange',
    state: { columnSizing, columnVisibility },
    onColumnSizingChange: setColumnSizing,
  });
  const headers = table.getHeaderGroups()[0]!.headers;
  const cols = headers.map((h) => h.column.id as LogColumn);
  const widthVars = useMemo(() => {
    const v: Record<string, string> = {};
    let sum = 0;
    for (const h of headers) {
      v[`--lv-w-${h.column.id}`] = `${h.getSize()}px`;
      sum += h.getSize();
    }
    v['--lv-total'] = `${sum}px`;
    return v as CSSProperties;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [headers.map((h) => `${h.column.id}:${h.getSize()}`).join(',')]);

  const scroller = useRef<HTMLDivElement>(null);
  const count = Math.min(total, MAX_ROWS);
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_H,
    overscan: 12,
  });
  const items = virtualizer.getVirtualItems();
  const first = items[0]?.index ?? 0;
  const last = items[items.length - 1]?.index ?? 0;

  // fetch what is on screen once scrolling pauses for a moment (a dragged scrollbar skips the pages between)
  useEffect(() => {
    if (!loaded) return;
    const t = setTimeout(() => ensure(first, last), 40);
    return () => clearTimeout(t);
  }, [first, last, loaded, ensure, pages]);

  useEffect(() => {
    scroller.current?.scrollTo({ top: 0 });
  }, [epoch]);

  // in live mode the newest rows come in on top; stay there while the view is at the top
  useEffect(() => {
    if (liveMode && scroller.current && scroller.current.scrollTop < ROW_H * 3) scroller.current.scrollTo({ top: 0 });
  }, [live, liveMode]);

  const selectedIndex = useRef(-1);
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Escape') return;
    e.preventDefault();
    if (e.key === 'Escape') return select(null);
    let i = selected ? findIndex(selected.id) : -1;
    i = e.key === 'ArrowDown' ? Math.min(count - 1, i + 1) : Math.max(0, i - 1);
    const row = rowAt({ vLive: live, vPages: pages }, i);
    if (row) {
      select(row);
      selectedIndex.current = i;
      virtualizer.scrollToIndex(i, { align: 'auto' });
    }
  };
  const findIndex = (id: number): number => {
    const guess = selectedIndex.current;
    if (guess >= 0 && rowAt({ vLive: live, vPages: pages }, guess)?.id === id) return guess;
    for (let i = first; i <= last; i++) if (rowAt({ vLive: live, vPages: pages }, i)?.id === id) return i;
    return first - 1;
  };

  return (
    <div className="lv-table" style={widthVars} role="table" aria-label="Request log" aria-rowcount={count + 1} data-testid="lv-table">
      <div className="lv-scroll" ref={scroller} tabIndex={0} onKeyDown={onKeyDown}>
        <div className="lv-head" role="row">
          {headers.map((h) => {
            const id = h.column.id as LogColumn;
            const s = SORT_OF[id];
            const active = s !== undefined && s === sort;
            return (
              <div key={h.id} role="columnheader" className={`lv-cell lv-th lv-c-${id}`} aria-sort={active ? (order === 'desc' ? 'descending' : 'ascending') : undefined}>
                {s ? (
                  <button type="button" className={`lv-sort ${active ? 'is-active' : ''}`} onClick={() => setSort(s)} title={`Sort by ${LABELS[id].toLowerCase()}`}>
                    {LABELS[id]}
                    <span className="lv-arrow" aria-hidden="true">
                      {active ? (order === 'desc' ? '▼' : '▲') : '↕'}
                    </span>
                  </button>
                ) : (
                  <span>{LABELS[id]}</span>
                )}
                {id !== 'url' && (
                  <span
                    className={`lv-resizer ${h.column.getIsResizing() ? 'is-resizing' : ''}`}
                    onMouseDown={h.getResizeHandler()}
                    onTouchStart={h.getResizeHandler()}
                    onDoubleClick={() => h.column.resetSize()}
                    role="separator"
                    aria-orientation="vertical"
                    aria-label={`Resize ${LABELS[id]}`}
                  />
                )}
              </div>
            );
          })}
        </div>
        <div className="lv-body" style={{ height: virtualizer.getTotalSize() }}>
          {items.map((v) => {
            const row = rowAt({ vLive: live, vPages: pages }, v.index);
            return (
              <Row
                key={row ? row.id : `p${v.index}`}
                row={row}
                index={v.index}
                cols={cols}
                selected={row !== undefined && selected?.id === row.id}
                style={{ transform: `translateY(${v.start}px)`, height: ROW_H }}
              />
            );
          })}
        </div>
        {loaded && total === 0 && !firstLoading && (
          <div className="lv-empty" data-testid="lv-empty">
            <p className="empty-title">No requests match</p>
            <p className="muted">Loosen the filter, or pick a longer time range.</p>
          </div>
        )}
        {total > MAX_ROWS && (
          <div className="lv-capped muted small">Only the first {MAX_ROWS.toLocaleString('en-US')} rows can be scrolled to: narrow the filter to see the others.</div>
        )}
      </div>
    </div>
  );
}

/** The status cell: an HTTP status, or a SOCKS session's outcome in words. */
export function Outcome({ row }: { row: LogRow }) {
  const o = outcomeOf(row);
  return (
    <span className={`status status-${o.cls}`} title={o.title || undefined}>
      {o.text}
    </span>
  );
}
