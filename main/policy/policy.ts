/**
 * The one place that decides whether a request may go ahead. Engines describe
 * the request (service, client, user and groups, target, method) and obey the
 * answer, which names the rule that decided it and the limits that apply.
 *
 * Order: the allowed source ranges (the safe-by-default gate: Gatehouse is
 * never an open proxy), the CONNECT port list (HTTP tunnels only), then the
 * owner's rules, first match wins, then the default action.
 */
import { SourceSet, parseSourceList } from '../contract/addresses.js';
import { parsePortList, portInList, type PortRange } from '../contract/ports.js';
import type { Rule, Settings } from '../contract/index.js';
import { compileRule, hasLimits, type CompiledRule } from './rules.js';

export interface DecideInput {
  service: string;
  clientAddr: string;
  user?: string;
  groups?: string[];
  host: string;
  port: number;
  /** HTTP method, "CONNECT" for tunnels, "BIND"/"UDP" for SOCKS */
  method?: string;
  time?: number;
}

export interface AppliedLimits {
  /** who the limits are counted for: rule and user (or client address) */
  key: string;
  maxConnections: number | null;
  upBps: number | null;
  downBps: number | null;
}

export interface Decision {
  allow: boolean;
  /** which rule decided: shown in the log and in refusals */
  rule: string;
  ruleId: number | null;
  /** a sentence for the refused client and the log */
  reason: string;
  route: 'direct';
  limits?: AppliedLimits;
}

export interface Policy {
  decide(input: DecideInput): Decision;
}

export const RULE_SOURCES = 'allowed-sources';
export const RULE_CONNECT_PORTS = 'connect-ports';
export const RULE_DEFAULT = 'default';

/** the decisions of the default action: shared, never changed by their users */
const DEFAULT_ALLOW: Decision = Object.freeze({ allow: true, rule: RULE_DEFAULT, ruleId: null, reason: 'allowed by the default action', route: 'direct' });
const DEFAULT_DENY: Decision = Object.freeze({ allow: false, rule: RULE_DEFAULT, ruleId: null, reason: 'no rule allows this, and the default action is deny', route: 'direct' });

export class GatewayPolicy implements Policy {
  private sources = new SourceSet([]);
  private sourcesText = '';
  private connectPorts: PortRange[] = [];
  private connectPortsText = '';
  private defaultAllow = false;
  private rules: Array<CompiledRule & { decision: Decision }> = [];

  constructor(
    settings: Settings,
    rules: Rule[] = [],
    private readonly clock: () => number = Date.now,
  ) {
    this.apply(settings);
    this.setRules(rules);
  }

  apply(settings: Settings): void {
    this.sources = new SourceSet(parseSourceList(settings['access.allowedSources']));
    this.sourcesText = settings['access.allowedSources'].join(', ');
    this.connectPorts = parsePortList(settings['http.connectPorts']);
    this.connectPortsText = settings['http.connectPorts'];
    this.defaultAllow = settings['access.defaultAction'] === 'allow';
  }

  setRules(rules: Rule[]): void {
    // a rule's decision without limits is the same every time: made once, shared, never changed
    this.rules = rules
      .filter((r) => r.enabled)
      .map((r) => {
        const allow = r.action === 'allow';
        const decision: Decision = Object.freeze({
          allow,
          rule: r.name,
          ruleId: r.id,
          reason: allow ? `allowed by rule "${r.name}"` : `rule "${r.name}" does not allow this`,
          route: 'direct' as const,
        });
        return { ...compileRule(r), decision };
      });
  }

  decide(input: DecideInput): Decision {
    if (!this.sources.has(input.clientAddr)) {
      return {
        allow: false,
        rule: RULE_SOURCES,
        ruleId: null,
        reason: `client ${input.clientAddr} is outside the allowed source ranges (${this.sourcesText})`,
        route: 'direct',
      };
    }
    if (input.service === 'http' && input.method === 'CONNECT' && !portInList(input.port, this.connectPorts)) {
      return {
        allow: false,
        rule: RULE_CONNECT_PORTS,
        ruleId: null,
        reason: `tunnels to port ${input.port} are not allowed (allowed ports: ${this.connectPortsText})`,
        route: 'direct',
      };
    }
    const time = input.time ?? this.clock();
    for (const c of this.rules) {
      if (!c.matches(input, time)) continue;
      const r = c.rule;
      if (!c.decision.allow || !hasLimits(r.limits)) return c.decision;
      return {
        ...c.decision,
        limits: {
          key: `${r.id}:${input.user ? 'u:' + input.user.toLowerCase() : 'a:' + input.clientAddr}`,
          maxConnections: r.limits.maxConnections,
          upBps: r.limits.upKBps === null ? null : r.limits.upKBps * 1024,
          downBps: r.limits.downKBps === null ? null : r.limits.downKBps * 1024,
        },
      };
    }
    return this.defaultAllow ? DEFAULT_ALLOW : DEFAULT_DENY;
  }
}
