/** What a transport needs from the control service: call a method, receive events. */
import type { GatehouseEvent, Result } from '../contract/index.js';

export interface ControlService {
  /** validates `input` against the contract, runs the method, never throws */
  call(method: string, input: unknown): Promise<Result<unknown>>;
  subscribe(onEvent: (e: GatehouseEvent) => void): () => void;
}
