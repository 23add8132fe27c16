/**
 * The one place that decides whether a request may go ahead. Engines describe
 * the request (service, client, user and groups, target, method) and obey the
 * answer, which names the rule that decided it and the limits that apply.
 *
 * Order: the allowed source ranges (the safe-by-default gate: Gatehouse is
 * never an open proxy), the ports no service may reach (access.blockedPorts),
 * the HTTP port lists (CONNECT: http.connectPorts; plain HTTP: http.safePorts,
 * as Squid's Safe_ports), then, for every address the target resolved to:
 * Gatehouse's own service ports (never, for anyone: loops and SSRF to the
 * admin), this PC itself (only for this PC, or where a rule names the
 * destination, as Squid's to_localhost), then the owner's rules, first match
 * wins, then the default action.
 *
 * A name is decided twice: first on the name alone, before any lookup (a rule
 * that names host patterns can refuse it then), then on each address it
 * resolved to. The caller dials only the addresses that were decided.
 */
import { SourceSet, parseIp, parseSourceList, type IpAddr } from '../contract/addresses.js';
import { parsePortList, portInList, type PortRange } from '../contract/ports.js';
import type { Rule, Settings } from '../contract/index.js';
import { compileRule, hasLimits, type CompiledRule, type RuleRequest } from './rules.js';

/** A request as the engines describe it: what the rules match, and what the gates need besides. */
export interface DecideInput extends RuleRequest {
  /**
   * the addresses `host` resolved to, once known; left out for a name, the decision is on the
   * name alone and may be `pending` (the addresses decide); an IP literal is its own address
   */
  addresses?: readonly string[];
  /** HTTP method, "CONNECT" for tunnels, "BIND"/"UDP" for SOCKS */
  method?: string;
  time?: number;
  /**
   * the name will be looked up beyond this PC (by the last hop of an upstream chain): a rule that
   * decides on the name alone is final, with no check of addresses that are not this PC's
   */
  remote?: boolean;
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
  /** allowed so far on the name alone: the addresses it resolves to must be decided before a dial */
  pending?: boolean;
}

/** What the policy needs to know about this PC (its addresses change with the network). */
export interface SelfInfo {
  /** one of this PC's own interface addresses (loopback and unspecified addresses are always "self") */
  isOwnAddress(addr: string): boolean;
  /** a port one of Gatehouse's own services listens on (proxies, web admin) */
  isOwnPort(port: number): boolean;
}

export interface Policy {
  /** the source gate alone: may this client use the proxies at all? */
  admitsSource(clientAddr: string): boolean;
  /** whether a host (an upstream hop's) is this PC: a name it looks up is then looked up here */
  isThisPc(host: string): boolean;
  decide(input: DecideInput): Decision;
}

export const RULE_SOURCES = 'allowed-sources';
export const RULE_CONNECT_PORTS = 'connect-ports';
export const RULE_SAFE_PORTS = 'safe-ports';
export const RULE_BLOCKED_PORTS = 'blocked-ports';
export const RULE_OWN_PORT = 'own-port';
export const RULE_SELF = 'gateway-itself';
export const RULE_DEFAULT = 'default';

/** the decisions of the default action: shared, never changed by their users */
const DEFAULT_ALLOW: Decision = Object.freeze({ allow: true, rule: RULE_DEFAULT, ruleId: null, reason: 'allowed by the default action', route: 'direct' });
const DEFAULT_DENY: Decision = Object.freeze({ allow: false, rule: RULE_DEFAULT, ruleId: null, reason: 'no rule allows this, and the default action is deny', route: 'direct' });
const PENDING: Decision = Object.freeze({ allow: true, rule: '', ruleId: null, reason: 'decided once the name is resolved', route: 'direct', pending: true });

const NOBODY_ELSE: SelfInfo = { isOwnAddress: () => false, isOwnPort: () => false };

function deny(rule: string, reason: string): Decision {
  return { allow: false, rule, ruleId: null, reason, route: 'direct' };
}

function addrText(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** 127.0.0.0/8, ::1, 0.0.0.0 and :: (which reach this PC when dialled) */
function isLoopbackOrUnspecified(a: IpAddr): boolean {
  if (a.family === 4) return a.value >> 24n === 127n || a.value === 0n;
  return a.value === 1n || a.value === 0n;
}

type Compiled = CompiledRule & { decision: Decision };

export class GatewayPolicy implements Policy {
  private sources = new SourceSet([]);
  private sourcesText = '';
  private connectPorts: PortRange[] = [];
  private connectPortsText = '';
  private safePorts: PortRange[] = [];
  private safePortsText = '';
  private blockedPorts: PortRange[] = [];
  private blockedPortsText = '';
  private defaultAllow = false;
  private rules: Compiled[] = [];
  /** address text → parsed address and whether it is this PC (a LAN has few addresses; asked per request) */
  private readonly addrMemo = new Map<string, { a: IpAddr | null; self: boolean }>();

  constructor(
    settings: Settings,
    rules: Rule[] = [],
    private readonly clock: () => number = Date.now,
    private readonly self: SelfInfo = NOBODY_ELSE,
  ) {
    this.apply(settings);
    this.setRules(rules);
  }

  apply(settings: Settings): void {
    this.sources = new SourceSet(parseSourceList(settings['access.allowedSources']));
    this.sourcesText = settings['access.allowedSources'].join(', ');
    this.connectPorts = parsePortList(settings['http.connectPorts']);
    this.connectPortsText = settings['http.connectPorts'];
    this.safePorts = parsePortList(settings['http.safePorts']);
    this.safePortsText = settings['http.safePorts'];
    this.blockedPorts = parsePortList(settings['access.blockedPorts']);
    this.blockedPortsText = settings['access.blockedPorts'];
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

  /** Forget what is known about addresses (this PC's addresses changed). */
  addressesChanged(): void {
    this.addrMemo.clear();
  }

  admitsSource(clientAddr: string): boolean {
    return this.sources.has(clientAddr);
  }

  isThisPc(host: string): boolean {
    const h = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
    if (h === 'localhost' || h.endsWith('.localhost')) return true;
    return this.addr(h).self;
  }

  private addr(text: string): { a: IpAddr | null; self: boolean } {
    let m = this.addrMemo.get(text);
    if (!m) {
      const a = parseIp(text);
      m = { a, self: !!a && (isLoopbackOrUnspecified(a) || this.self.isOwnAddress(text)) };
      if (this.addrMemo.size >= 4096) this.addrMemo.clear();
      this.addrMemo.set(text, m);
    }
    return m;
  }

  decide(input: DecideInput): Decision {
    const { clientAddr, port } = input;
    if (!this.sources.has(clientAddr)) {
      return deny(RULE_SOURCES, `client ${clientAddr} is outside the allowed source ranges (${this.sourcesText})`);
    }
    if (this.blockedPorts.length && portInList(port, this.blockedPorts)) {
      return deny(RULE_BLOCKED_PORTS, `port ${port} is blocked for every service (access.blockedPorts: ${this.blockedPortsText})`);
    }
    if (input.service === 'http') {
      if (input.method === 'CONNECT') {
        if (!portInList(port, this.connectPorts)) return deny(RULE_CONNECT_PORTS, `tunnels to port ${port} are not allowed (allowed ports: ${this.connectPortsText})`);
      } else if (!portInList(port, this.safePorts)) {
        return deny(RULE_SAFE_PORTS, `plain HTTP to port ${port} is not allowed (http.safePorts: ${this.safePortsText})`);
      }
    }
    const time = input.time ?? this.clock();
    let addresses = input.addresses;
    if (!addresses) {
      if (this.addr(input.host).a) addresses = [input.host];
      else {
        // the name alone: a rule that names it (or that comes first and needs no address) decides now
        const r = this.firstRule(input, null, time);
        if (input.remote && r !== undefined) return r ? this.withLimits(r.c, input) : this.defaultAllow ? DEFAULT_ALLOW : DEFAULT_DENY;
        if (r === null && !this.defaultAllow) return DEFAULT_DENY;
        return r && !r.c.decision.allow ? r.c.decision : PENDING;
      }
    }
    if (addresses.length === 0) return deny(RULE_DEFAULT, `${input.host} has no address`);
    const clientIsSelf = this.addr(clientAddr).self;
    let first: Decision | null = null;
    for (const text of addresses) {
      const { a, self } = this.addr(text);
      const named = text === input.host ? '' : ` (${input.host} resolves to ${text})`;
      if (self && this.self.isOwnPort(port)) {
        return deny(RULE_OWN_PORT, `${addrText(text, port)} is one of Gatehouse's own services; the proxies never connect to themselves${named}`);
      }
      const r = this.firstRule(input, a, time);
      const d = r ? this.withLimits(r.c, input) : this.defaultAllow ? DEFAULT_ALLOW : DEFAULT_DENY;
      if (self && !clientIsSelf && !(d.allow && r?.c.hasDestinations)) {
        return deny(RULE_SELF, `${text} is this gateway PC itself; devices on the network reach its own services only where a rule names them${named}`);
      }
      if (!d.allow) return named ? { ...d, reason: d.reason + named } : d;
      first ??= d;
    }
    return first!;
  }

  /** The first rule that matches; stops (returns undefined) at a rule that needs an address not known yet. */
  private firstRule(input: DecideInput, addr: IpAddr | null, time: number): { c: Compiled } | null | undefined {
    for (const c of this.rules) {
      const m = c.matches(input, addr, time);
      if (m === undefined) return undefined;
      if (m) return { c };
    }
    return null;
  }

  private withLimits(c: Compiled, input: DecideInput): Decision {
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
}
