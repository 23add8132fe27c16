/**
 * The IPC channel names shared by the main-process side (ipc.ts) and the
 * preload bridge (bridge.ts). Kept in their own module so the preload bundle
 * pulls in nothing else from the main process.
 */

/** renderer → main, invoke/handle: (method: string, input: unknown) → Result */
export const CALL_CHANNEL = 'gatehouse:call';
/** main → renderer, send/on: (event: GatehouseEvent) */
export const EVENT_CHANNEL = 'gatehouse:event';
