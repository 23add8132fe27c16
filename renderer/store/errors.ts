/**
 * Turns a failure from the control API into what the UI shows: the server's
 * message, plus one sentence on what to do next, plus (where it helps) a
 * button that takes the user there.
 */
import { GatehouseError, type ErrorCode } from '../../main/contract/index.js';

export interface UiAction {
  label: string;
  view: 'dashboard' | 'settings';
  /** setting key to focus on the Settings page */
  focusKey?: string;
}

export interface UiError {
  code: ErrorCode;
  message: string;
  hint: string;
  action?: UiAction;
}

const portAction: UiAction = { label: 'Change the port in Settings', view: 'settings', focusKey: 'http.port' };

const HINTS: Record<ErrorCode, string> = {
  E_VALIDATION: 'Correct the value named in the message and try again.',
  E_NOT_FOUND: 'It may have been removed meanwhile; reload the page and try again.',
  E_PORT_IN_USE:
    'Another program is already using that port. Change http.port in Settings (or close the other program), then try again.',
  E_UNAUTHORIZED: 'Open the admin link printed by Gatehouse (it contains the access token).',
  E_FORBIDDEN: 'Gatehouse refused this request from here. Use the Gatehouse window on that PC, or open the admin link again.',
  E_UNKNOWN_METHOD: 'This page and the running Gatehouse are different versions. Reload the page.',
  E_UNAVAILABLE: 'Check that Gatehouse is still running on that PC, then try again.',
  E_LOCKED: 'Another Gatehouse is already running on this data folder. Stop it first, or give this one a folder of its own.',
  E_STORAGE: 'Gatehouse cannot use its data folder. Free some disk space or fix the folder named in the message, then try again.',
  E_INTERNAL: 'Something went wrong inside Gatehouse. Try again; if it keeps happening, restart Gatehouse and look at its log output.',
};

export function toUiError(err: unknown): UiError {
  const e = err instanceof GatehouseError ? err : GatehouseError.from(err);
  const ui: UiError = { code: e.code, message: e.message, hint: HINTS[e.code] };
  if (e.code === 'E_PORT_IN_USE') ui.action = portAction;
  return ui;
}

/** What to do about a service that reports an error state (its error is free text). */
export function serviceErrorHint(error: string): { hint: string; action?: UiAction } {
  if (/EADDRINUSE|in use/i.test(error)) return { hint: HINTS.E_PORT_IN_USE, action: portAction };
  if (/EACCES|permission/i.test(error)) {
    return { hint: 'This port needs administrator rights. Choose a port above 1024 in Settings.', action: portAction };
  }
  if (/EADDRNOTAVAIL/i.test(error)) {
    return {
      hint: 'An address in the "listen" setting does not belong to this PC. Fix it in Settings.',
      action: { label: 'Open Settings', view: 'settings', focusKey: 'listen' },
    };
  }
  return { hint: 'Turn sharing off and on again; if the error stays, check the proxy settings.' };
}
