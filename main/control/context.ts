/**
 * What the control service's handlers work on: the configuration (settings,
 * users and groups, rules), the log, and — when the gateway runs in this
 * process — the live gateway. The CLI builds a context without a live
 * gateway (it only reads or changes configuration; a running gateway notices
 * within a second), the runtime builds one with it. Handlers are the same.
 */
import type { GatehouseEvent, LogRow, Mapping, MappingData, Settings, Status } from '../contract/index.js';
import type { GatewayPolicy } from '../policy/policy.js';
import type { Router } from '../policy/routes.js';
import type { TunnelsRepo } from '../storage/tunnels-repo.js';
import type { Resolver } from '../net/resolver.js';
import type { Recorder } from '../recorder.js';
import type { UsersRepo } from '../storage/users-repo.js';
import type { RulesRepo } from '../storage/rules-repo.js';
import type { LogStore } from '../storage/log-store.js';
import type { ConfigState } from './config.js';

/** The gateway running in this process, as the handlers see it. */
export interface LiveGateway {
  /** puts settings in force (policy, sign-in, services); rejects when a service cannot start */
  apply(next: Settings): Promise<void>;
  status(): Status;
  recorder: Recorder;
  /** users changed: sign-ins see it at once */
  usersChanged(): void;
  /** puts the port mappings in force (listeners started, stopped or moved); one that cannot listen shows its error */
  setMappings(list: readonly MappingData[]): Promise<void>;
  /** each mapping's listener as it runs, by id */
  mappingState(id: number): Pick<Mapping, 'state' | 'error' | 'addresses'>;
}

export interface ControlContext {
  version: string;
  dataDir: string;
  config: ConfigState;
  users: UsersRepo;
  rules: RulesRepo;
  /** port mappings, upstream chains and routes */
  tunnels: TunnelsRepo;
  /** which traffic goes through which chain (the live gateway's own when it runs) */
  router: Router;
  /** the policy that decides (the live gateway's own when it runs): rules changes reach it at once */
  policy: GatewayPolicy;
  resolver: Resolver;
  log: LogStore;
  recentLog(limit: number, afterId?: number): LogRow[];
  emit(e: GatehouseEvent): void;
  live: LiveGateway | null;
}

/** Puts new settings in force and tells the UI; the same for a change made here or saved elsewhere. */
export async function putInForce(ctx: ControlContext, prev: Settings, next: Settings): Promise<void> {
  ctx.policy.apply(next);
  ctx.log.setLimits(next);
  try {
    await ctx.live?.apply(next);
  } finally {
    if (JSON.stringify(prev) !== JSON.stringify(next)) ctx.emit({ type: 'settings', settings: next });
    // port mappings listen only while sharing is on, where the proxies listen: their state changed
    if (prev['sharing.enabled'] !== next['sharing.enabled'] || JSON.stringify(prev.listen) !== JSON.stringify(next.listen)) ctx.emit({ type: 'tunnels' });
    if (ctx.live) ctx.emit({ type: 'status', status: ctx.live.status() });
  }
}

/** Saves changes (validated first, all or nothing) and puts them in force. */
export async function commit(ctx: ControlContext, changes: Record<string, unknown>): Promise<Settings> {
  const prev = ctx.config.settings;
  const next = ctx.config.save(changes);
  await putInForce(ctx, prev, next);
  return ctx.config.settings;
}

/** Users, groups or rules changed (here or in another process): decisions and sign-ins follow at once. */
export function configChanged(ctx: ControlContext, kind: 'users' | 'rules'): void {
  ctx.policy.setRules(ctx.rules.list());
  if (kind === 'users') ctx.live?.usersChanged();
  ctx.emit({ type: kind });
}

/** Mappings, chains or routes changed (here or in another process): routes follow at once, mapping listeners as soon as they can. */
export async function tunnelsChanged(ctx: ControlContext): Promise<void> {
  ctx.router.set(ctx.tunnels.routes(), ctx.tunnels.chainsWithSecrets());
  try {
    await ctx.live?.setMappings(ctx.tunnels.mappings());
  } finally {
    ctx.emit({ type: 'tunnels' });
    if (ctx.live) ctx.emit({ type: 'status', status: ctx.live.status() });
  }
}
