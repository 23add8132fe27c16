/**
 * Access rules as data: an ordered list, first match wins, then the default
 * action. Shared by the policy (which evaluates them), the control API, the
 * CLI and the renderer (which edits them).
 *
 * A rule matches a request when every criterion it sets matches; an empty
 * list means "any". Users: a name, or "*" for any signed-in user; groups
 * match their members. Destinations: an exact host, "*.example.com" (the
 * domain and every name under it), an IP address or a CIDR range (IP targets
 * only). Ports: "80,443,8000-8100". Schedule: weekdays (0 = Sunday) and a
 * local-time window [from, to), which may wrap past midnight.
 */
import { z } from 'zod';

export const RULE_SERVICES = ['http', 'socks', 'mapping'] as const;

/** a service a rule or route can name: http, socks, mapping (every port mapping) or mapping:NAME (one) */
export const RuleServiceSchema = z.union([z.enum(RULE_SERVICES), z.templateLiteral(['mapping:', z.string().min(1).max(64)])]);
export type RuleService = z.infer<typeof RuleServiceSchema>;

export const ScheduleSchema = z.object({
  days: z.array(z.number().int().min(0).max(6)),
  from: z.string(),
  to: z.string(),
});
export type Schedule = z.infer<typeof ScheduleSchema>;

export const RuleLimitsSchema = z.object({
  /** concurrent connections per user (or per client address when nobody signed in) */
  maxConnections: z.number().int().min(1).max(100000).nullable(),
  /** KiB/s per user, each direction */
  upKBps: z.number().int().min(1).max(10_000_000).nullable(),
  downKBps: z.number().int().min(1).max(10_000_000).nullable(),
});
export type RuleLimits = z.infer<typeof RuleLimitsSchema>;

export const RuleInputSchema = z.object({
  name: z.string().max(100),
  enabled: z.boolean(),
  action: z.enum(['allow', 'deny']),
  services: z.array(RuleServiceSchema),
  sources: z.array(z.string().max(100)),
  users: z.array(z.string().max(64)),
  groups: z.array(z.string().max(64)),
  destinations: z.array(z.string().max(255)),
  ports: z.string().max(1000),
  schedule: ScheduleSchema.nullable(),
  limits: RuleLimitsSchema.nullable(),
  note: z.string().max(500),
});
export type RuleInput = z.infer<typeof RuleInputSchema>;

export const RuleSchema = RuleInputSchema.extend({ id: z.number().int() });
export type Rule = z.infer<typeof RuleSchema>;

export const EMPTY_RULE: RuleInput = {
  name: '',
  enabled: true,
  action: 'allow',
  services: [],
  sources: [],
  users: [],
  groups: [],
  destinations: [],
  ports: '',
  schedule: null,
  limits: null,
  note: '',
};

export const DecisionSchema = z.object({
  allow: z.boolean(),
  /** the rule's name ("default" when no rule matched, or a built-in gate) */
  rule: z.string(),
  ruleId: z.number().nullable(),
  reason: z.string(),
});
export type DecisionData = z.infer<typeof DecisionSchema>;

export const RuleTestInputSchema = z.object({
  service: z.enum(RULE_SERVICES),
  /** service "mapping": which port mapping (rules may name it as mapping:NAME) */
  mapping: z.string().max(64).optional(),
  clientAddr: z.string().min(1),
  user: z.string().optional(),
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  /** ms since the epoch; now when left out */
  time: z.number().optional(),
  /** HTTP method, "CONNECT" for a tunnel; by default CONNECT for port 443 and SOCKS, else GET */
  method: z.string().max(20).optional(),
});

export const ConnectionSchema = z.object({
  id: z.number(),
  start: z.number(),
  service: z.string(),
  clientAddr: z.string(),
  user: z.string(),
  method: z.string(),
  url: z.string(),
  rule: z.string(),
});
export type Connection = z.infer<typeof ConnectionSchema>;
