/**
 * Starts a whole Gatehouse in this process: storage, gateway, control service
 * and (optionally) the web admin. The headless CLI (`gatehouse serve`) and the
 * Electron main process both start through here, so they run the same gateway.
 */
import type { Settings } from './contract/index.js';
import type { ControlService } from './control/types.js';

export interface RuntimeOptions {
  dataDir: string;
  /** "on"/"off" force the sharing switch at start; "saved" keeps the stored one */
  sharing?: 'on' | 'off' | 'saved';
  /** settings applied (and saved) before services start, e.g. from CLI flags */
  overrides?: Partial<Settings>;
  /** run the web admin (default true) */
  admin?: boolean;
}

export interface Runtime {
  control: ControlService;
  /** web admin base URL (no token), or null */
  adminUrl: string | null;
  /** the secret that opens the web admin: `${adminUrl}/?token=${adminToken}` signs a browser in */
  adminToken: string;
  /** stop accepting, let in-flight requests finish briefly, flush the log, close the db */
  stop(): Promise<void>;
}

export declare function startRuntime(opts: RuntimeOptions): Promise<Runtime>;
