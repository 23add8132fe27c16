/**
 * Rules: the ordered list, the default action, and "Would this be allowed?",
 * which asks the same policy the proxies ask, the same way: who signs in,
 * then the name, then the addresses it resolves to.
 */
import { GatehouseError, type DecisionWithRoute as DecisionData, type Handlers } from '../../contract/index.js';
import { describeRoute } from '../../policy/routes.js';
import { commit, configChanged, type ControlContext } from '../context.js';

type RuleMethods = 'rules.list' | 'rules.add' | 'rules.update' | 'rules.remove' | 'rules.move' | 'rules.setDefault' | 'rules.test';

export function rulesHandlers(ctx: ControlContext): Pick<Handlers, RuleMethods> {
  const { rules, users } = ctx;
  const changed = <T>(value: T): T => {
    configChanged(ctx, 'rules');
    return value;
  };
  return {
    'rules.list': () => ({ rules: rules.list(), defaultAction: ctx.config.settings['access.defaultAction'] }),
    'rules.add': ({ rule, position }) => changed(rules.add(rule, position)),
    'rules.update': ({ id, rule }) => changed(rules.update(id, rule)),
    'rules.remove': ({ id }) => {
      rules.remove(id);
      return changed({ removed: id });
    },
    'rules.move': ({ id, position }) => changed(rules.move(id, position)),
    'rules.setDefault': async ({ action }) => {
      await commit(ctx, { 'access.defaultAction': action });
      changed(null);
      return { defaultAction: ctx.config.settings['access.defaultAction'] };
    },
    'rules.test': ({ service, mapping, clientAddr, user, host, port, time, method }): DecisionData | Promise<DecisionData> => {
      const settings = ctx.config.settings;
      let groups: string[] = [];
      // nobody signs in to a port mapping: its rules see the client's address alone
      const login = service === 'http' ? settings['http.login'] : service === 'socks' ? settings['socks.login'] : 'off';
      if (user) {
        const wanted = user.toLowerCase();
        const u = users.list().find((x) => x.name.toLowerCase() === wanted);
        if (!u) throw new GatehouseError('E_VALIDATION', `unknown user "${user}"`);
        if (!u.enabled) return { allow: false, rule: 'login', ruleId: null, reason: `user "${u.name}" is disabled and cannot sign in` };
        if (login === 'off') {
          // with sign-in off nobody is identified: the rules see an anonymous client
          user = undefined;
        } else groups = u.groups;
      } else if (login === 'required') {
        return { allow: false, rule: 'login', ruleId: null, reason: `the ${service === 'http' ? 'HTTP' : 'SOCKS'} proxy requires sign-in (${service}.login is "required")` };
      }
      // an HTTPS site through the HTTP proxy is a CONNECT tunnel
      const m = method ?? (service === 'http' ? (port === 443 ? 'CONNECT' : 'GET') : service === 'mapping' ? 'TCP' : 'CONNECT');
      const input = { service, mapping, clientAddr, user, groups, host, port, method: m, time };
      const at = time ?? Date.now();
      const d = ctx.policy.decide(input);
      const route = ctx.router.pick(input, null, at);
      const withRoute = (x: DecisionData, r = route): DecisionData => (x.allow && r ? { ...x, route: describeRoute(r) } : x);
      if (!d.allow) return { allow: d.allow, rule: d.rule, ruleId: d.ruleId, reason: d.reason };
      const last = route?.chain?.hops[route.chain.hops.length - 1];
      if (route?.chain?.resolve === 'remote' && last && !ctx.policy.isThisPc(last.host) && d.pending) {
        // the chain's last hop looks the name up: the rules decide on the name alone where they can
        const r = ctx.policy.decide({ ...input, remote: true });
        if (!r.pending) return withRoute({ allow: r.allow, rule: r.rule, ruleId: r.ruleId, reason: r.reason });
      }
      if (!d.pending) return withRoute({ allow: d.allow, rule: d.rule, ruleId: d.ruleId, reason: d.reason }, route ?? ctx.router.pick(input, host, at));
      // a name the rules cannot decide alone: resolved as the proxies would, then decided on its addresses
      return new Promise((resolve) =>
        ctx.resolver.resolve(host, (err, addresses) => {
          if (err) {
            const why = `the name ${host} could not be resolved from this PC (${err.code ?? err.message}), so the proxies would answer that it was not found`;
            return resolve({ allow: false, rule: 'dns', ruleId: null, reason: why });
          }
          const a = ctx.policy.decide({ ...input, addresses });
          resolve(withRoute({ allow: a.allow, rule: a.rule, ruleId: a.ruleId, reason: a.reason }, route ?? ctx.router.pick(input, addresses[0]!, at)));
        }),
      );
    },
  };
}
