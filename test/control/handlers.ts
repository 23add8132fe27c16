/**
 * Control handlers for tests: every method of the contract answers
 * E_UNAVAILABLE unless the test gives it a handler, so a test names only the
 * methods it uses and keeps compiling as the contract grows.
 */
import { GatehouseError, methods, type Handlers, type Status } from '../../main/contract/index.js';

export function handlersWith(given: Partial<Handlers>): Handlers {
  const all: Record<string, unknown> = {};
  for (const m of Object.keys(methods)) {
    all[m] = () => {
      throw new GatehouseError('E_UNAVAILABLE', `${m} is not part of this test`);
    };
  }
  return { ...all, ...given } as Handlers;
}

/** A status with nothing running, for tests that only need its shape. */
export function testStatus(over: Partial<Status> = {}): Status {
  return {
    version: '0.0.0-test',
    sharing: false,
    services: [],
    lanAddresses: [],
    admin: { url: null },
    dataDir: '/nowhere',
    startedAt: 0,
    activeConnections: 0,
    totalRequests: 0,
    ...over,
  };
}
