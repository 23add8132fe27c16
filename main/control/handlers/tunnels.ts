/**
 * Port mappings, upstream chains and routes. A mapping whose port is taken
 * is refused with the port and its owner: by one of Gatehouse's own services
 * or mappings (checked before saving), or by another program (found when the
 * running gateway cannot listen, or, with no gateway running here, by trying
 * the port). Chains are tested hop by hop from this PC.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { GatehouseError, parseHostPort, type Handlers, type Mapping, type MappingData } from '../../contract/index.js';
import { checkChain } from '../../net/upstream/chain.js';
import { tunnelsChanged, type ControlContext } from '../context.js';

type TunnelMethods =
  | 'mappings.list'
  | 'mappings.add'
  | 'mappings.update'
  | 'mappings.remove'
  | 'chains.list'
  | 'chains.add'
  | 'chains.update'
  | 'chains.remove'
  | 'chains.test'
  | 'routes.list'
  | 'routes.add'
  | 'routes.update'
  | 'routes.remove'
  | 'routes.move';

/** Whether another program holds the port (tried on each address the mapping would listen on). */
async function portTaken(m: MappingData, listen: readonly string[]): Promise<boolean> {
  const hosts = m.listen ? [m.listen] : listen.map((a) => (a === '*' ? '::' : a));
  for (const host of hosts) {
    const code = await new Promise<string | null>((resolve) => {
      if (m.proto === 'udp') {
        const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
        s.once('error', (err: NodeJS.ErrnoException) => {
          s.close();
          resolve(err.code ?? 'ERR');
        });
        s.bind({ address: host, port: m.port, exclusive: true }, () => s.close(() => resolve(null)));
      } else {
        const srv = net.createServer();
        srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'ERR'));
        srv.listen({ host, port: m.port, exclusive: true }, () => srv.close(() => resolve(null)));
      }
    });
    if (code === 'EADDRINUSE') return true;
  }
  return false;
}

export function tunnelsHandlers(ctx: ControlContext): Pick<Handlers, TunnelMethods> {
  const { tunnels } = ctx;
  const view = (m: MappingData): Mapping => {
    const live = ctx.live?.mappingState(m.id) ?? { state: 'stopped' as const, error: null, addresses: [] };
    return { ...m, ...live };
  };
  const taken = (m: MappingData) => new GatehouseError('E_PORT_IN_USE', `port ${m.port}/${m.proto} is already in use by another program; choose another port for mapping "${m.name}"`);

  /** A TCP port one of the running services listens on (its settings may say 0: picked at start). */
  const assertNotOurs = (m: { name?: string; proto?: string; port?: number }): void => {
    if (!ctx.live || m.proto === 'udp' || m.port === undefined) return;
    const status = ctx.live.status();
    const svc = status.services.find((s) => s.port === m.port);
    const admin = status.admin.url ? Number(new URL(status.admin.url).port) : -1;
    const owner = svc ? `the ${svc.label} (${svc.name}.port)` : admin === m.port ? 'the web admin (admin.port)' : null;
    if (owner) throw new GatehouseError('E_PORT_IN_USE', `port ${m.port}/tcp is used by ${owner}; choose another port for mapping "${m.name ?? ''}"`);
  };

  /** Puts a saved mapping in force; undoes the change when its port turns out to be taken. */
  const putInForce = async (m: MappingData, undo: () => void): Promise<Mapping> => {
    if (m.enabled && !ctx.live && (await portTaken(m, ctx.config.settings.listen))) {
      undo();
      throw taken(m);
    }
    await tunnelsChanged(ctx);
    const v = view(m);
    if (v.state === 'error' && /in use/.test(v.error ?? '')) {
      undo();
      await tunnelsChanged(ctx);
      throw taken(m);
    }
    return v;
  };

  return {
    'mappings.list': () => tunnels.mappings().map(view),
    'mappings.add': async ({ mapping }) => {
      assertNotOurs(mapping);
      const m = tunnels.addMapping({ listen: '', enabled: true, note: '', ...mapping });
      return putInForce(m, () => tunnels.removeMapping(m.id));
    },
    'mappings.update': async ({ id, mapping }) => {
      const before = tunnels.mapping(id);
      assertNotOurs({ ...before, ...mapping });
      const m = tunnels.updateMapping(id, mapping);
      const same = before.port === m.port && before.proto === m.proto && before.listen === m.listen && before.enabled;
      if (same) {
        await tunnelsChanged(ctx);
        return view(m);
      }
      const { id: _id, ...old } = before;
      return putInForce(m, () => tunnels.updateMapping(id, old));
    },
    'mappings.remove': async ({ id }) => {
      tunnels.removeMapping(id);
      await tunnelsChanged(ctx);
      return { removed: id };
    },
    'chains.list': () => tunnels.chains(),
    'chains.add': async ({ chain }) => {
      const c = tunnels.addChain(chain);
      await tunnelsChanged(ctx);
      return c;
    },
    'chains.update': async ({ name, chain }) => {
      const c = tunnels.updateChain(name, chain);
      await tunnelsChanged(ctx);
      return c;
    },
    'chains.remove': async ({ name }) => {
      const removed = tunnels.removeChain(name);
      await tunnelsChanged(ctx);
      return { removed };
    },
    'chains.test': async ({ name, probe }) => {
      const c = tunnels.chainForDial(name);
      const target = probe ? parseHostPort(probe, 'the probe') : undefined;
      const hops = await checkChain(c.hops, { timeoutMs: ctx.config.settings['http.connectTimeout'] * 1000, probe: target });
      return { hops };
    },
    'routes.list': () => ({ routes: tunnels.routes() }),
    'routes.add': async ({ route, position }) => {
      const r = tunnels.addRoute(route, position);
      await tunnelsChanged(ctx);
      return r;
    },
    'routes.update': async ({ id, route }) => {
      const r = tunnels.updateRoute(id, route);
      await tunnelsChanged(ctx);
      return r;
    },
    'routes.remove': async ({ id }) => {
      tunnels.removeRoute(id);
      await tunnelsChanged(ctx);
      return { removed: id };
    },
    'routes.move': async ({ id, position }) => {
      const list = tunnels.moveRoute(id, position);
      await tunnelsChanged(ctx);
      return list;
    },
  };
}
