/**
 * Statistics slice: the period shown on the Statistics page (a preset, ending
 * now) and what the server computed for it from the log's aggregates: traffic
 * over time and the top clients, users and hosts.
 */
import type { Output, StatDim } from '../../main/contract/index.js';
import { toUiError, type UiError } from './errors.js';
import type { SliceDeps } from './types.js';

export const PERIODS = [
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
] as const;
export type PeriodId = (typeof PERIODS)[number]['id'];

export const TOP_DIMS: StatDim[] = ['client', 'user', 'host'];

export interface StatsSlice {
  statsPeriod: PeriodId;
  statsBy: 'bytes' | 'requests';
  statsTraffic: Output<'stats.traffic'> | null;
  statsTop: Partial<Record<StatDim, Output<'stats.top'>['items']>>;
  statsLoading: boolean;
  statsError: UiError | null;
  setStatsPeriod(p: PeriodId): void;
  setStatsBy(by: 'bytes' | 'requests'): void;
  loadStats(): Promise<void>;
}

export function periodRange(id: PeriodId, now = Date.now()): { from: number; to: number } {
  const p = PERIODS.find((x) => x.id === id) ?? PERIODS[1];
  // end on the next minute so the current one is in
  const to = now - (now % 60_000) + 60_000;
  return { from: to - p.ms, to };
}

export function createStatsSlice({ set, get, call }: SliceDeps): StatsSlice {
  let generation = 0;
  return {
    statsPeriod: '24h',
    statsBy: 'bytes',
    statsTraffic: null,
    statsTop: {},
    statsLoading: false,
    statsError: null,
    setStatsPeriod(p) {
      set({ statsPeriod: p });
      void get().loadStats();
    },
    setStatsBy(by) {
      set({ statsBy: by });
      void get().loadStats();
    },
    async loadStats() {
      const gen = ++generation;
      const { from, to } = periodRange(get().statsPeriod);
      const by = get().statsBy;
      set({ statsLoading: true });
      try {
        const [traffic, ...tops] = await Promise.all([
          call('stats.traffic', { from, to, points: 240 }),
          ...TOP_DIMS.map((dim) => call('stats.top', { from, to, dim, by, limit: 10 })),
        ]);
        if (gen !== generation) return;
        const statsTop: StatsSlice['statsTop'] = {};
        TOP_DIMS.forEach((d, i) => (statsTop[d] = tops[i]!.items));
        set({ statsTraffic: traffic, statsTop, statsError: null });
      } catch (e) {
        if (gen === generation) set({ statsError: toUiError(e) });
      } finally {
        if (gen === generation) set({ statsLoading: false });
      }
    },
  };
}
