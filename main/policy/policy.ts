/**
 * The one place that decides whether a request may go ahead. Engines describe
 * the request (service, client, user, target, method) and obey the answer,
 * which names the rule that decided it. Today's rules come from settings:
 * the allowed source ranges, and the ports CONNECT tunnels may reach.
 */
import { matchesAny, parseSourceList, type Cidr } from '../contract/addresses.js';
import { parsePortList, portInList, type PortRange } from '../contract/ports.js';
import type { Settings } from '../contract/index.js';

export interface DecideInput {
  service: string;
  clientAddr: string;
  user?: string;
  groups?: string[];
  host: string;
  port: number;
  /** HTTP method, "CONNECT" for tunnels */
  method?: string;
  time?: number;
}

export interface Decision {
  allow: boolean;
  /** which rule decided: shown in the log and in refusals */
  rule: string;
  /** a sentence for the refused client and the log */
  reason: string;
  route: 'direct';
}

export interface Policy {
  decide(input: DecideInput): Decision;
}

export const RULE_SOURCES = 'allowed-sources';
export const RULE_CONNECT_PORTS = 'connect-ports';
export const RULE_DEFAULT = 'default';

export class SettingsPolicy implements Policy {
  private sources: Cidr[] = [];
  private sourcesText = '';
  private connectPorts: PortRange[] = [];
  private connectPortsText = '';

  constructor(settings: Settings) {
    this.apply(settings);
  }

  apply(settings: Settings): void {
    this.sources = parseSourceList(settings['access.allowedSources']);
    this.sourcesText = settings['access.allowedSources'].join(', ');
    this.connectPorts = parsePortList(settings['http.connectPorts']);
    this.connectPortsText = settings['http.connectPorts'];
  }

  decide(input: DecideInput): Decision {
    if (!matchesAny(this.sources, input.clientAddr)) {
      return {
        allow: false,
        rule: RULE_SOURCES,
        reason: `client ${input.clientAddr} is outside the allowed source ranges (${this.sourcesText})`,
        route: 'direct',
      };
    }
    if (input.service === 'http' && input.method === 'CONNECT' && !portInList(input.port, this.connectPorts)) {
      return {
        allow: false,
        rule: RULE_CONNECT_PORTS,
        reason: `tunnels to port ${input.port} are not allowed (allowed ports: ${this.connectPortsText})`,
        route: 'direct',
      };
    }
    return { allow: true, rule: RULE_DEFAULT, reason: 'allowed', route: 'direct' };
  }
}
