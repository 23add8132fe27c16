/**
 * The control API of Gatehouse as one typed contract: method name → input
 * schema → output schema (zod). The control service implements it once; the
 * transports (Electron IPC, web admin, CLI) validate against it and forward;
 * the renderer calls a client built from it. Events are pushed over the same
 * transports (IPC messages, server-sent events).
 */
import { z } from 'zod';
import { SettingsSchema } from './settings.js';
import { ConnectionSchema, DecisionSchema, RuleInputSchema, RuleSchema, RuleTestInputSchema } from './rules.js';
import { logMethods, type ExportJob, type LogRow } from './log.js';
import { LogRowSchema } from './log-row.js';
import { DecisionWithRouteSchema, tunnelMethods } from './tunnels.js';

export const ServiceName = z.enum(['http', 'socks', 'mapping']);
export type ServiceName = z.infer<typeof ServiceName>;

export const ServiceStatusSchema = z.object({
  name: ServiceName,
  label: z.string(),
  state: z.enum(['stopped', 'starting', 'running', 'error']),
  /** "host:port" per listening socket */
  addresses: z.array(z.string()),
  port: z.number().nullable(),
  error: z.string().nullable(),
});
export type ServiceStatus = z.infer<typeof ServiceStatusSchema>;

export const StatusSchema = z.object({
  version: z.string(),
  sharing: z.boolean(),
  services: z.array(ServiceStatusSchema),
  /** this PC's addresses that LAN clients can use to reach the proxies */
  lanAddresses: z.array(z.string()),
  admin: z.object({ url: z.string().nullable() }),
  dataDir: z.string(),
  startedAt: z.number(),
  activeConnections: z.number(),
  totalRequests: z.number(),
  /** sign-ins being slowed down after failures, per address (and user name), newest first */
  throttles: z.array(z.object({ clientAddr: z.string(), user: z.string().nullable(), failures: z.number(), until: z.number() })).optional(),
  /** the request log's writing thread: paused (the disk is full) with rows waiting in memory */
  logPaused: z.object({ since: z.number(), reason: z.string(), waiting: z.number() }).nullable().optional(),
  /** the database was found damaged at start, set aside and recovered: what happened, in one line */
  recovery: z.string().nullable().optional(),
  /** the DNS cache every service resolves through: answers from the cache and lookups made */
  dns: z.object({ hits: z.number(), misses: z.number(), entries: z.number(), hitRatio: z.number() }).optional(),
  /** port mappings listening, and how many could not */
  mappings: z.object({ running: z.number(), errors: z.number() }).optional(),
});
export type Status = z.infer<typeof StatusSchema>;

const Empty = z.object({}).strict();

export const UserSchema = z.object({
  name: z.string(),
  enabled: z.boolean(),
  note: z.string(),
  groups: z.array(z.string()),
  created: z.number(),
  updated: z.number(),
});
export type User = z.infer<typeof UserSchema>;

export const GroupSchema = z.object({
  name: z.string(),
  note: z.string(),
  members: z.array(z.string()),
});
export type Group = z.infer<typeof GroupSchema>;

const Name = z.string().min(1).max(64);
const Password = z.string().min(1, 'the password is empty').max(255);

export const SettingEntrySchema = z.object({
  key: z.string(),
  value: z.unknown(),
  text: z.string(),
  default: z.unknown(),
  description: z.string(),
  example: z.string(),
});

export const methods = {
  'status.get': { input: Empty, output: StatusSchema },
  'sharing.set': { input: z.object({ enabled: z.boolean() }).strict(), output: StatusSchema },
  'settings.get': { input: Empty, output: SettingsSchema },
  'settings.describe': { input: Empty, output: z.array(SettingEntrySchema) },
  /** changes some settings at once: all are validated first, then saved in one transaction */
  'settings.update': {
    input: z.object({ changes: z.record(z.string(), z.unknown()) }).strict(),
    output: SettingsSchema,
  },
  /** the same, with values given as text (CLI, form fields) */
  'settings.setText': {
    input: z.object({ key: z.string(), value: z.string() }).strict(),
    output: SettingsSchema,
  },
  'users.list': { input: Empty, output: z.array(UserSchema) },
  'users.add': {
    input: z
      .object({ name: Name, password: Password, enabled: z.boolean().optional(), note: z.string().max(500).optional(), groups: z.array(Name).optional() })
      .strict(),
    output: UserSchema,
  },
  'users.update': {
    input: z.object({ name: Name, enabled: z.boolean().optional(), note: z.string().max(500).optional(), groups: z.array(Name).optional() }).strict(),
    output: UserSchema,
  },
  'users.setPassword': { input: z.object({ name: Name, password: Password }).strict(), output: UserSchema },
  'users.remove': { input: z.object({ name: Name }).strict(), output: z.object({ removed: z.string() }) },
  'groups.list': { input: Empty, output: z.array(GroupSchema) },
  'groups.add': { input: z.object({ name: Name, note: z.string().max(500).optional(), members: z.array(Name).optional() }).strict(), output: GroupSchema },
  'groups.update': { input: z.object({ name: Name, note: z.string().max(500).optional(), members: z.array(Name).optional() }).strict(), output: GroupSchema },
  'groups.remove': { input: z.object({ name: Name }).strict(), output: z.object({ removed: z.string() }) },
  'rules.list': { input: Empty, output: z.object({ rules: z.array(RuleSchema), defaultAction: z.enum(['allow', 'deny']) }) },
  /** adds a rule at `position` (0 = first; end when left out) */
  'rules.add': { input: z.object({ rule: RuleInputSchema, position: z.number().int().min(0).optional() }).strict(), output: RuleSchema },
  'rules.update': { input: z.object({ id: z.number().int(), rule: RuleInputSchema.partial() }).strict(), output: RuleSchema },
  'rules.remove': { input: z.object({ id: z.number().int() }).strict(), output: z.object({ removed: z.number() }) },
  /** moves a rule to `position` in the order (0 = first) */
  'rules.move': { input: z.object({ id: z.number().int(), position: z.number().int().min(0) }).strict(), output: z.array(RuleSchema) },
  'rules.setDefault': { input: z.object({ action: z.enum(['allow', 'deny']) }).strict(), output: z.object({ defaultAction: z.enum(['allow', 'deny']) }) },
  /** "Would this be allowed?" */
  'rules.test': { input: RuleTestInputSchema.strict(), output: DecisionWithRouteSchema },
  'connections.list': { input: Empty, output: z.array(ConnectionSchema) },
  /** ends live connections: one by id, or all of a user's */
  'connections.kill': {
    input: z.object({ id: z.number().int().optional(), user: z.string().optional() }).strict(),
    output: z.object({ killed: z.number() }),
  },
  ...logMethods,
  ...tunnelMethods,
  'log.recent': {
    input: z
      .object({
        limit: z.number().int().min(1).max(5000).default(100),
        /** only rows with an id above this */
        afterId: z.number().int().min(0).optional(),
      })
      .strict(),
    output: z.array(LogRowSchema),
  },
} as const;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type Input<M extends MethodName> = z.input<Methods[M]['input']>;
export type ParsedInput<M extends MethodName> = z.output<Methods[M]['input']>;
export type Output<M extends MethodName> = z.output<Methods[M]['output']>;

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(methods, name);
}

/** Pushed events: status changes and newly written log rows. */
export type GatehouseEvent =
  | { type: 'status'; status: Status }
  | { type: 'log'; rows: LogRow[] }
  | { type: 'settings'; settings: z.infer<typeof SettingsSchema> }
  | { type: 'users' }
  | { type: 'rules' }
  /** port mappings, chains or routes changed */
  | { type: 'tunnels' }
  /** a log export started, progressed or ended */
  | { type: 'export'; job: ExportJob };

export type Handlers = { [M in MethodName]: (input: ParsedInput<M>) => Promise<Output<M>> | Output<M> };

export * from './errors.js';
export * from './settings.js';
export * from './rules.js';
export * from './rule-check.js';
export * from './log.js';
export * from './tunnels.js';
export * from './hop-url.js';
