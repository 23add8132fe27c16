/**
 * Status slice: the gateway's status (sharing, services, addresses, counters)
 * and the Enable sharing switch, with its pending state and last error.
 */
import type { Status } from '../../main/contract/index.js';
import { toUiError, type UiError } from './errors.js';
import type { SliceDeps } from './types.js';

export interface StatusSlice {
  status: Status | null;
  /** the value the switch is being moved to, while sharing.set runs */
  sharingPending: boolean | null;
  sharingError: UiError | null;
  refreshStatus(): Promise<void>;
  setSharing(enabled: boolean): Promise<void>;
  dismissSharingError(): void;
}

export function createStatusSlice({ set, get, call }: SliceDeps): StatusSlice {
  return {
    status: null,
    sharingPending: null,
    sharingError: null,

    async refreshStatus() {
      try {
        const status = await call('status.get', {});
        set({ status });
      } catch {
        // a failed refresh keeps the last known status; the stream banner or
        // the next action reports the problem
      }
    },

    async setSharing(enabled) {
      if (get().sharingPending !== null) return;
      set({ sharingPending: enabled, sharingError: null });
      try {
        const status = await call('sharing.set', { enabled });
        set({ status, sharingPending: null });
      } catch (e) {
        set({ sharingPending: null, sharingError: toUiError(e) });
        // the gateway may have half-applied the change: show what it is doing now
        await get().refreshStatus();
      }
    },

    dismissSharingError: () => set({ sharingError: null }),
  };
}
