/**
 * The gateway as it runs in this process: the policy (with what it must know
 * about this PC), sign-in, limits, name resolution, the one admission path
 * and the proxy services, composed from the settings, users and rules.
 * `apply` puts new settings in force; the control service sees it as its
 * LiveGateway.
 */
import type { ChainData, MappingData, Route, Rule, Settings, Status } from './contract/index.js';
import type { LiveGateway } from './control/context.js';
import { Admission } from './engines/admission.js';
import { Gateway } from './gateway.js';
import type { Logger } from './logger.js';
import { lanAddresses, watchOwnAddresses } from './net/addresses.js';
import { createResolver, type Resolver } from './net/resolver.js';
import { Authenticator, type AuthAccount } from './policy/auth.js';
import { Limiter } from './policy/limits.js';
import { GatewayPolicy } from './policy/policy.js';
import { Router } from './policy/routes.js';
import type { Recorder } from './recorder.js';

export interface LiveDeps {
  settings: Settings;
  rules: Rule[];
  /** port mappings, and the routes through upstream chains */
  tunnels: { mappings: MappingData[]; routes: Route[]; chains: ChainData[] };
  accounts: () => AuthAccount[];
  recorder: Recorder;
  logger: Logger;
  /** the web admin's port once it listens (the proxies never connect to it) */
  adminPort: () => number;
  /** the rest of the status: version, data directory, admin address, the log's and the database's state */
  statusBase: () => Pick<Status, 'version' | 'dataDir' | 'admin' | 'startedAt' | 'logPaused' | 'recovery'>;
}

export interface Live extends LiveGateway {
  policy: GatewayPolicy;
  router: Router;
  resolver: Resolver;
  gateway: Gateway;
  stop(graceMs: number): Promise<void>;
}

function authOptions(s: Settings) {
  return { freeFailures: s['auth.maxFailures'], forgetMs: s['auth.lockoutSeconds'] * 1000, maxDelayMs: s['auth.maxDelaySeconds'] * 1000 };
}

export function createLive(d: LiveDeps): Live {
  const authLog = d.logger.child('auth');
  const auth = new Authenticator(d.accounts, {
    ...authOptions(d.settings),
    onEvent: (e) =>
      e.type === 'throttle'
        ? authLog.warn('sign-ins slowed down after failures', { client: e.clientAddr, user: e.user, failures: e.failures, retryAfterMs: e.retryAfterMs })
        : authLog.info('failed sign-in', { client: e.clientAddr, user: e.user, failures: e.failures }),
  });
  // this PC as the policy must know it: its addresses (refused to LAN clients as destinations)
  // and the ports of its own services (refused to everyone)
  const own = watchOwnAddresses(() => policy.addressesChanged());
  const self = { isOwnAddress: (a: string): boolean => own.has(a), isOwnPort: (p: number): boolean => gateway.isOwnPort(p) || p === d.adminPort() };
  const policy: GatewayPolicy = new GatewayPolicy(d.settings, d.rules, Date.now, self);
  const resolver = createResolver();
  const router = new Router(d.tunnels.routes, d.tunnels.chains);
  const admission = new Admission({ policy, auth, limiter: new Limiter(), resolver, recorder: d.recorder, router });
  const gateway: Gateway = new Gateway({ admission, recorder: d.recorder, logger: d.logger.child('gateway') });
  void gateway.setMappings(d.tunnels.mappings);
  let settings = d.settings;
  return {
    policy,
    router,
    resolver,
    gateway,
    recorder: d.recorder,
    async apply(next) {
      settings = next;
      policy.apply(next);
      auth.configure(authOptions(next));
      await gateway.apply(next);
    },
    status: () => ({
      ...d.statusBase(),
      sharing: settings['sharing.enabled'],
      services: gateway.status(),
      lanAddresses: lanAddresses(),
      activeConnections: d.recorder.active,
      totalRequests: d.recorder.total,
      throttles: auth.throttles().slice(0, 20),
      dns: resolver.stats(),
      mappings: gateway.mappingCounts(),
    }),
    usersChanged: () => auth.reload(),
    setMappings: (list) => gateway.setMappings(list),
    mappingState: (id) => gateway.mappingState(id),
    async stop(graceMs) {
      own.stop();
      await gateway.stop(graceMs);
      auth.close();
    },
  };
}
