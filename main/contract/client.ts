/**
 * A typed client for the control API over any transport. The renderer and the
 * CLI build one of these; neither knows whether it talks IPC or HTTP.
 */
import type { GatehouseEvent, Input, MethodName, Output } from './index.js';
import { GatehouseError, type Result } from './errors.js';

export interface Transport {
  call(method: string, input: unknown): Promise<Result<unknown>>;
  subscribe(onEvent: (e: GatehouseEvent) => void): () => void;
}

export interface Client {
  call<M extends MethodName>(method: M, input: Input<M>): Promise<Output<M>>;
  subscribe(onEvent: (e: GatehouseEvent) => void): () => void;
}

export function createClient(transport: Transport): Client {
  return {
    async call(method, input) {
      const r = await transport.call(method, input);
      if (!r.ok) throw new GatehouseError(r.error.code, r.error.message);
      return r.value as never;
    },
    subscribe: (onEvent) => transport.subscribe(onEvent),
  };
}
