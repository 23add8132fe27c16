/**
 * Rules in SQLite: one row per rule with its position in the order and its
 * fields as JSON. Every change is validated first and written in one
 * transaction; positions are renumbered so the order is always 0..n-1.
 */
import { GatehouseError, RuleInputSchema, type Rule, type RuleInput } from '../contract/index.js';
import { validateRule } from '../policy/rules.js';
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
    const rule = validateRule({ ...rest, ...patch }, this.known(), index);
    this.db.prepare('UPDATE rules SET data = ? WHERE id = ?').run(JSON.stringify(rule), id);
    return this.get(id);
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

const BROKEN: RuleInput = {
  name: 'Damaged rule',
  enabled: false,
  action: 'deny',
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
