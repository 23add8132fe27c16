/**
 * Rules in SQLite: one row per rule with its position in the order and its
 * fields as JSON. Every change is validated first and written in one
 * transaction; positions are renumbered so the order is always 0..n-1.
 */
import { EMPTY_RULE, GatehouseError, RuleInputSchema, validateRule, type Rule, type RuleInput } from '../contract/index.js';
import type { Db } from './db.js';

export class RulesRepo {
  constructor(
    private readonly db: Db,
    private readonly known: () => { users: Set<string>; groups: Set<string> },
  ) {}

  list(): Rule[] {
    return this.db
      .prepare<[], { id: number; data: string }>('SELECT id, data FROM rules ORDER BY position, id')
      .all()
      .map((r) => {
        const parsed = RuleInputSchema.safeParse(JSON.parse(r.data));
        // a damaged rule is shown disabled rather than lost or silently applied
        return parsed.success ? { ...parsed.data, id: r.id } : { ...BROKEN, id: r.id, note: `damaged rule: ${r.data.slice(0, 200)}` };
      });
  }

  get(id: number): Rule {
    const r = this.list().find((x) => x.id === id);
    if (!r) throw new GatehouseError('E_NOT_FOUND', `no rule with id ${id}`);
    return r;
  }

  private renumber(ids: number[]): void {
    const stmt = this.db.prepare('UPDATE rules SET position = ? WHERE id = ?');
    ids.forEach((id, i) => stmt.run(i, id));
  }

  add(input: RuleInput, position?: number): Rule {
    const rule = validateRule(input, this.known());
    const id = this.db.transaction(() => {
      const ids = this.list().map((r) => r.id);
      const newId = Number(this.db.prepare('INSERT INTO rules(position, data) VALUES (?, ?)').run(ids.length, JSON.stringify(rule)).lastInsertRowid);
      const at = position === undefined ? ids.length : Math.min(position, ids.length);
      ids.splice(at, 0, newId);
      this.renumber(ids);
      return newId;
    })();
    return this.get(id);
  }

  update(id: number, patch: Partial<RuleInput>): Rule {
    const current = this.get(id);
    const { id: _id, ...rest } = current;
    const index = this.list().findIndex((r) => r.id === id);
    // names the rule already had stay acceptable (e.g. to switch off a rule whose user is gone)
    const known = this.known();
    for (const u of current.users) known.users.add(u.toLowerCase());
    for (const g of current.groups) known.groups.add(g.toLowerCase());
    const rule = validateRule({ ...rest, ...patch }, known, index);
    this.db.prepare('UPDATE rules SET data = ? WHERE id = ?').run(JSON.stringify(rule), id);
    return this.get(id);
  }

  /** The rules that name a user or group (which therefore cannot be deleted yet). */
  naming(kind: 'user' | 'group', name: string): Rule[] {
    const n = name.toLowerCase();
    return this.list().filter((r) => (kind === 'user' ? r.users : r.groups).some((x) => x.toLowerCase() === n));
  }

  /** Throws E_VALIDATION when rules name this user or group: deleting it would silently change them. */
  assertNotNamed(kind: 'user' | 'group', name: string): void {
    const rules = this.naming(kind, name);
    if (rules.length === 0) return;
    const list = rules.map((r) => `"${r.name}"`).join(', ');
    throw new GatehouseError(
      'E_VALIDATION',
      `${kind} "${name}" is named by ${rules.length === 1 ? 'rule' : 'rules'} ${list}; take the ${kind} out of ${rules.length === 1 ? 'that rule' : 'those rules'} first`,
    );
  }

  remove(id: number): void {
    this.db.transaction(() => {
      const info = this.db.prepare('DELETE FROM rules WHERE id = ?').run(id);
      if (info.changes === 0) throw new GatehouseError('E_NOT_FOUND', `no rule with id ${id}`);
      this.renumber(this.list().map((r) => r.id));
    })();
  }

  move(id: number, position: number): Rule[] {
    this.db.transaction(() => {
      const ids = this.list().map((r) => r.id);
      const from = ids.indexOf(id);
      if (from < 0) throw new GatehouseError('E_NOT_FOUND', `no rule with id ${id}`);
      ids.splice(from, 1);
      ids.splice(Math.min(position, ids.length), 0, id);
      this.renumber(ids);
    })();
    return this.list();
  }
}

const BROKEN: RuleInput = { ...EMPTY_RULE, name: 'Damaged rule', enabled: false, action: 'deny' };
