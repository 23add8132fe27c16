/**
 * What the tray shows for a given gateway status, as plain data: the tooltip,
 * the status line at the top of the menu, and the sharing switch. main.ts
 * turns it into a Menu; tests check the wording without Electron.
 */
import type { Status } from '../contract/index.js';

export interface TrayModel {
  /** icon variant: coloured while sharing runs, grey otherwise */
  active: boolean;
  tooltip: string;
  statusLine: string;
  toggle: { label: string; enabled: boolean; enable: boolean };
}

/** `pending` is the sharing value a toggle has asked for and not yet got. */
export function trayModel(status: Status | null, pending: boolean | null = null): TrayModel {
  const statusLine = describe(status);
  const sharing = status?.sharing ?? false;
  const toggle =
    pending !== null
      ? { label: pending ? 'Enabling sharing…' : 'Disabling sharing…', enabled: false, enable: pending }
      : { label: sharing ? 'Disable sharing' : 'Enable sharing', enabled: status !== null, enable: !sharing };
  const active = sharing && status !== null && status.services.some((s) => s.state === 'running');
  return { active, tooltip: `Gatehouse — ${statusLine}`, statusLine, toggle };
}

const MAX_ERROR = 60;

function describe(status: Status | null): string {
  if (!status) return 'Starting…';
  if (!status.sharing) return 'Sharing is off';
  const failed = status.services.find((s) => s.state === 'error');
  if (failed) return `${failed.label} failed: ${clip(failed.error ?? 'unknown error')}`;
  if (status.services.some((s) => s.state === 'starting')) return 'Sharing is starting…';
  const running = status.services.find((s) => s.state === 'running' && s.port !== null);
  if (!running) return 'Sharing is on';
  const lan = status.lanAddresses[0];
  return lan ? `Sharing on ${hostPort(lan, running.port!)}` : `Sharing on port ${running.port} (no LAN address found)`;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function clip(s: string): string {
  return s.length > MAX_ERROR ? `${s.slice(0, MAX_ERROR - 1)}…` : s;
}
