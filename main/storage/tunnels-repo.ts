/**
 * Port mappings, upstream chains and routes in SQLite, each row's fields as
 * JSON. Every change is validated first (contract/tunnels.ts) and written in
 * one transaction. Routes keep an order (positions 0..n-1) like rules.
 *
 * Hop passwords are stored with their chain, because Gatehouse must send them
 * to the upstream; they leave this module only towards the dialer
 * (`chainsWithSecrets`), never in a listing.
 */
import {
  ChainInputSchema,
  GatehouseError,
  MappingInputSchema,
  RouteInputSchema,
  chainView,
  validateMapping,
  validateRoute,
  type Chain,
  type ChainData,
  type ChainInput,
  type HopInput,
  type MappingData,
  type MappingInput,
  type OwnPorts,
  type Route,
  type RouteInput,
} from '../contract/index.js';
import type { Db } from './db.js';

export interface TunnelsDeps {
  /** the ports of Gatehouse's own services, for refusing a mapping on one of them */
  ownPorts(): OwnPorts;
  known(): { users: Set<string>; groups: Set<string> };
}

export class TunnelsRepo {
  constructor(
    private readonly db: Db,
    private readonly deps: TunnelsDeps,
  ) {}

  // ——— mappings ———

  mappings(): MappingData[] {
    return this.db
      .prepare<[], { id: number; data: string }>('SELECT id, data FROM mappings ORDER BY id')
      .all()
      .flatMap((r) => {
        const parsed = MappingInputSchema.safeParse(JSON.parse(r.data));
        // a damaged mapping is shown disabled rather than lost
        return parsed.success ? [{ ...parsed.data, id: r.id }] : [{ name: `damaged-${r.id}`, proto: 'tcp' as const, port: 1, to: 'invalid:1', listen: '', enabled: false, note: `damaged mapping: ${r.data.slice(0, 200)}`, id: r.id }];
      });
  }

  mapping(id: number): MappingData {
    const m = this.mappings().find((x) => x.id === id);
    if (!m) throw new GatehouseError('E_NOT_FOUND', `no mapping with id ${id}`);
    return m;
  }

  addMapping(input: MappingInput): MappingData {
    const m = validateMapping(input, this.mappings(), this.deps.ownPorts());
    const id = Number(this.db.prepare('INSERT INTO mappings(data) VALUES (?)').run(JSON.stringify(m)).lastInsertRowid);
    return { ...m, id };
  }

  updateMapping(id: number, patch: Partial<MappingInput>): MappingData {
    const { id: _id, ...current } = this.mapping(id);
    const m = validateMapping(
      { ...current, ...patch },
      this.mappings().filter((x) => x.id !== id),
      this.deps.ownPorts(),
    );
    this.db.transaction(() => {
      this.db.prepare('UPDATE mappings SET data = ? WHERE id = ?').run(JSON.stringify(m), id);
      // routes and rules that name the mapping follow a rename
      if (m.name !== current.name) this.renameService(`mapping:${current.name}`, `mapping:${m.name}`);
    })();
    return { ...m, id };
  }

  removeMapping(id: number): MappingData {
    const m = this.mapping(id);
    this.db.prepare('DELETE FROM mappings WHERE id = ?').run(id);
    return m;
  }

  private renameService(from: string, to: string): void {
    const low = from.toLowerCase();
    for (const r of this.routes()) {
      if (!r.services.some((s) => s.toLowerCase() === low)) continue;
      const { id, ...rest } = r;
      const services = r.services.map((s) => (s.toLowerCase() === low ? to : s));
      this.db.prepare('UPDATE routes SET data = ? WHERE id = ?').run(JSON.stringify({ ...rest, services }), id);
    }
  }

  // ——— chains ———

  /** the chains with their hops' passwords: for the dialer only */
  chainsWithSecrets(): ChainData[] {
    return this.db
      .prepare<[], { data: string }>('SELECT data FROM chains ORDER BY name COLLATE NOCASE')
      .all()
      .map((r) => JSON.parse(r.data) as ChainData);
  }

  chains(): Chain[] {
    return this.chainsWithSecrets().map(chainView);
  }

  private chainData(name: string): ChainData {
    const low = name.toLowerCase();
    const c = this.chainsWithSecrets().find((x) => x.name.toLowerCase() === low);
    if (!c) throw new GatehouseError('E_NOT_FOUND', `no chain named "${name}"`);
    return c;
  }

  chain(name: string): Chain {
    return chainView(this.chainData(name));
  }

  /** the chain with secrets, for a health check */
  chainForDial(name: string): ChainData {
    return this.chainData(name);
  }

  addChain(input: Partial<ChainInput> & Pick<ChainInput, 'name' | 'hops'>): Chain {
    const c = ChainInputSchema.parse({ resolve: 'remote', note: '', ...input });
    if (['direct', 'fail'].includes(c.name.toLowerCase())) throw new GatehouseError('E_VALIDATION', `"${c.name}" is a word routes use; name the chain otherwise`);
    const low = c.name.toLowerCase();
    if (this.chainsWithSecrets().some((x) => x.name.toLowerCase() === low)) throw new GatehouseError('E_VALIDATION', `a chain named "${c.name}" already exists`);
    const data = toData(c, []);
    this.db.prepare('INSERT INTO chains(name, data) VALUES (?, ?)').run(c.name, JSON.stringify(data));
    return chainView(data);
  }

  updateChain(name: string, patch: Partial<ChainInput>): Chain {
    const current = this.chainData(name);
    if (patch.name !== undefined && patch.name.toLowerCase() !== current.name.toLowerCase()) {
      throw new GatehouseError('E_VALIDATION', `a chain keeps its name (routes name it); add a new chain "${patch.name}" instead`);
    }
    const c = ChainInputSchema.parse({ ...current, ...patch, name: current.name });
    const data = toData(c, current.hops);
    this.db.prepare('UPDATE chains SET data = ? WHERE name = ?').run(JSON.stringify(data), current.name);
    return chainView(data);
  }

  removeChain(name: string): string {
    const c = this.chainData(name);
    const low = c.name.toLowerCase();
    const using = this.routes().filter((r) => r.chain.toLowerCase() === low || r.fallback.toLowerCase() === low);
    if (using.length) {
      const all = this.routes().map((r) => r.id);
      const where = using.map((r) => `#${all.indexOf(r.id) + 1}`).join(', ');
      throw new GatehouseError('E_VALIDATION', `chain "${c.name}" is used by the route${using.length === 1 ? '' : 's'} at position ${where}; remove or change ${using.length === 1 ? 'that route' : 'those routes'} first`);
    }
    this.db.prepare('DELETE FROM chains WHERE name = ?').run(c.name);
    return c.name;
  }

  // ——— routes ———

  routes(): Route[] {
    return this.db
      .prepare<[], { id: number; data: string }>('SELECT id, data FROM routes ORDER BY position, id')
      .all()
      .map((r) => {
        const parsed = RouteInputSchema.safeParse(JSON.parse(r.data));
        return parsed.success ? { ...parsed.data, id: r.id } : { chain: 'direct', fallback: 'fail', destinations: [], users: [], groups: [], services: [], enabled: false, note: `damaged route: ${r.data.slice(0, 200)}`, id: r.id };
      });
  }

  route(id: number): Route {
    const r = this.routes().find((x) => x.id === id);
    if (!r) throw new GatehouseError('E_NOT_FOUND', `no route with id ${id}`);
    return r;
  }

  private chainNames(): Set<string> {
    return new Set(this.chainsWithSecrets().map((c) => c.name.toLowerCase()));
  }

  private renumber(ids: number[]): void {
    const stmt = this.db.prepare('UPDATE routes SET position = ? WHERE id = ?');
    ids.forEach((id, i) => stmt.run(i, id));
  }

  addRoute(input: Partial<RouteInput> & Pick<RouteInput, 'chain'>, position?: number): Route {
    const r = validateRoute({ fallback: 'fail', destinations: [], users: [], groups: [], services: [], enabled: true, note: '', ...input }, this.chainNames(), this.deps.known());
    const id = this.db.transaction(() => {
      const ids = this.routes().map((x) => x.id);
      const newId = Number(this.db.prepare('INSERT INTO routes(position, data) VALUES (?, ?)').run(ids.length, JSON.stringify(r)).lastInsertRowid);
      ids.splice(position === undefined ? ids.length : Math.min(position, ids.length), 0, newId);
      this.renumber(ids);
      return newId;
    })();
    return { ...r, id };
  }

  updateRoute(id: number, patch: Partial<RouteInput>): Route {
    const { id: _id, ...current } = this.route(id);
    const known = this.deps.known();
    for (const u of current.users) known.users.add(u.toLowerCase());
    for (const g of current.groups) known.groups.add(g.toLowerCase());
    const r = validateRoute({ ...current, ...patch }, this.chainNames(), known);
    this.db.prepare('UPDATE routes SET data = ? WHERE id = ?').run(JSON.stringify(r), id);
    return { ...r, id };
  }

  removeRoute(id: number): void {
    this.db.transaction(() => {
      if (this.db.prepare('DELETE FROM routes WHERE id = ?').run(id).changes === 0) throw new GatehouseError('E_NOT_FOUND', `no route with id ${id}`);
      this.renumber(this.routes().map((r) => r.id));
    })();
  }

  moveRoute(id: number, position: number): Route[] {
    this.db.transaction(() => {
      const ids = this.routes().map((r) => r.id);
      const from = ids.indexOf(id);
      if (from < 0) throw new GatehouseError('E_NOT_FOUND', `no route with id ${id}`);
      ids.splice(from, 1);
      ids.splice(Math.min(position, ids.length), 0, id);
      this.renumber(ids);
    })();
    return this.routes();
  }

  /** The routes that name a user or group (which therefore cannot be deleted yet). */
  naming(kind: 'user' | 'group', name: string): Route[] {
    const n = name.toLowerCase();
    return this.routes().filter((r) => (kind === 'user' ? r.users : r.groups).some((x) => x.toLowerCase() === n));
  }
}

/** Hops as stored: a hop given without a password keeps the one it had (same kind, host, port and user, wherever it moved). */
function toData(c: ChainInput, before: readonly ChainData['hops'][number][]): ChainData {
  return {
    name: c.name,
    resolve: c.resolve,
    note: c.note,
    hops: c.hops.map((h: HopInput, i) => {
      const user = h.user ? h.user : null;
      const host = h.host.replace(/^\[|\]$/g, '').toLowerCase();
      const old = before.find((o) => o.kind === h.kind && o.host === host && o.port === h.port && o.user === user);
      const keep = h.password === undefined && old;
      const password = keep ? old.password : h.password ? h.password : null;
      if (h.kind === 'socks4a' && password) throw new GatehouseError('E_VALIDATION', `hop ${i + 1}: SOCKS4a has a user id but no password; use socks5 for a password`);
      if (h.kind !== 'socks4a' && password && !user) throw new GatehouseError('E_VALIDATION', `hop ${i + 1}: a password needs a user name`);
      return { kind: h.kind, host: h.host.replace(/^\[|\]$/g, '').toLowerCase(), port: h.port, user, password };
    }),
  };
}
