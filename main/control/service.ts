/**
 * The control service: the one implementation of the control API. It checks
 * every input against the contract, runs the handler, and returns a Result;
 * transports only carry calls and events to and from it.
 */
import {
  GatehouseError,
  isMethodName,
  methods,
  type GatehouseEvent,
  type Handlers,
  type Result,
} from '../contract/index.js';
import type { ControlService } from './types.js';

export class Control implements ControlService {
  private readonly listeners = new Set<(e: GatehouseEvent) => void>();

  constructor(private readonly handlers: Handlers) {}

  async call(method: string, input: unknown): Promise<Result<unknown>> {
    try {
      if (!isMethodName(method)) throw new GatehouseError('E_UNKNOWN_METHOD', `unknown method "${method}"`);
      const spec = methods[method];
      const parsed = spec.input.safeParse(input ?? {});
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? issue.path.join('.') : 'input';
        throw new GatehouseError('E_VALIDATION', `${method}: ${where}: ${issue?.message ?? 'invalid input'}`);
      }
      const handler = this.handlers[method] as (i: unknown) => unknown;
      const value = await handler(parsed.data);
      return { ok: true, value };
    } catch (err) {
      return { ok: false, error: GatehouseError.from(err).toData() };
    }
  }

  /** whether anyone subscribed: producers of frequent events may skip the work when not */
  get watched(): boolean {
    return this.listeners.size > 0;
  }

  subscribe(onEvent: (e: GatehouseEvent) => void): () => void {
    this.listeners.add(onEvent);
    return () => this.listeners.delete(onEvent);
  }

  emit(e: GatehouseEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // one broken subscriber must not stop the others
      }
    }
  }
}
