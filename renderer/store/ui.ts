/** Which page is shown, and which setting to focus when a hint sends the user there. */
import type { SliceDeps } from './types.js';

export type View = 'dashboard' | 'log' | 'stats' | 'users' | 'rules' | 'mappings' | 'upstream' | 'settings';

export interface UiSlice {
  view: View;
  /** a setting key the Settings page should scroll to and focus once */
  focusKey: string | null;
  setView(view: View, focusKey?: string): void;
  clearFocusKey(): void;
}

export function createUiSlice({ set }: SliceDeps): UiSlice {
  return {
    view: 'dashboard',
    focusKey: null,
    setView: (view, focusKey) => set({ view, focusKey: focusKey ?? null }),
    clearFocusKey: () => set({ focusKey: null }),
  };
}
