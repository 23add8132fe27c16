/**
 * Users and groups in SQLite. Names are case-insensitive and unique; a user's
 * password is only ever stored as a scrypt hash. Every change is one
 * transaction and is validated first, with messages that name the bad value.
 */
import { GatehouseError, type User, type Group } from '../contract/index.js';
import type { Db } from './db.js';

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function checkName(kind: 'user' | 'group', name: string): string {
  const n = name.trim();
  if (!NAME_RE.test(n)) {
    throw new GatehouseError(
      'E_VALIDATION',
      `${kind} name "${name}" is not valid: use 1-64 letters, digits, dot, dash, underscore or @, starting with a letter or digit`,
    );
  }
  return n;
}

export function checkPassword(password: string): void {
  if (password.length < 1) throw new GatehouseError('E_VALIDATION', 'the password is empty');
  if (Buffer.byteLength(password) > 255) {
    // RFC 1929 carries at most 255 bytes of password
    throw new GatehouseError('E_VALIDATION', 'the password is longer than 255 bytes (SOCKS5 cannot carry it)');
  }
}

interface UserRow {
  id: number;
  name: string;
  pass_hash: string;
  enabled: number;
  note: string;
  created: number;
  updated: number;
}

export interface StoredUser extends User {
  passHash: string;
}

/** Turns a password into what is stored (the policy's scrypt hash): storage stores, it does not hash. */
export type PasswordHasher = (password: string) => Promise<string>;

const NO_HASHER: PasswordHasher = () => Promise.reject(new Error('this users store was opened without a password hasher'));

export class UsersRepo {
  constructor(
    private readonly db: Db,
    private readonly hashPassword: PasswordHasher = NO_HASHER,
  ) {}

  private groupsOf(userId: number): string[] {
    return this.db
      .prepare<[number], { name: string }>(
        'SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = ? ORDER BY g.name',
      )
      .all(userId)
      .map((r) => r.name);
  }

  private toUser(r: UserRow): StoredUser {
    return {
      name: r.name,
      enabled: r.enabled === 1,
      note: r.note,
      groups: this.groupsOf(r.id),
      created: r.created,
      updated: r.updated,
      passHash: r.pass_hash,
    };
  }

  listStored(): StoredUser[] {
    return this.db.prepare<[], UserRow>('SELECT * FROM users ORDER BY name COLLATE NOCASE').all().map((r) => this.toUser(r));
  }

  list(): User[] {
    return this.listStored().map(({ passHash: _h, ...u }) => u);
  }

  private row(name: string): UserRow | undefined {
    return this.db.prepare<[string], UserRow>('SELECT * FROM users WHERE name = ? COLLATE NOCASE').get(name);
  }

  get(name: string): User {
    const r = this.row(name);
    if (!r) throw new GatehouseError('E_NOT_FOUND', `no user named "${name}"`);
    const { passHash: _h, ...u } = this.toUser(r);
    return u;
  }

  private groupIds(groups: string[]): number[] {
    const ids: number[] = [];
    for (const g of groups) {
      const row = this.db.prepare<[string], { id: number }>('SELECT id FROM groups WHERE name = ? COLLATE NOCASE').get(g);
      if (!row) throw new GatehouseError('E_VALIDATION', `unknown group "${g}" (create it first)`);
      ids.push(row.id);
    }
    return ids;
  }

  async add(input: { name: string; password: string; enabled?: boolean; note?: string; groups?: string[] }): Promise<User> {
    const name = checkName('user', input.name);
    checkPassword(input.password);
    if (this.row(name)) throw new GatehouseError('E_VALIDATION', `a user named "${name}" already exists`);
    const groupIds = this.groupIds(input.groups ?? []);
    const hash = await this.hashPassword(input.password);
    const now = Date.now();
    this.db.transaction(() => {
      if (this.row(name)) throw new GatehouseError('E_VALIDATION', `a user named "${name}" already exists`);
      const id = Number(
        this.db
          .prepare('INSERT INTO users(name, pass_hash, enabled, note, created, updated) VALUES (?, ?, ?, ?, ?, ?)')
          .run(name, hash, input.enabled === false ? 0 : 1, input.note ?? '', now, now).lastInsertRowid,
      );
      for (const g of groupIds) this.db.prepare('INSERT INTO group_members(group_id, user_id) VALUES (?, ?)').run(g, id);
    })();
    return this.get(name);
  }

  update(name: string, patch: { enabled?: boolean; note?: string; groups?: string[] }): User {
    const r = this.row(name);
    if (!r) throw new GatehouseError('E_NOT_FOUND', `no user named "${name}"`);
    const groupIds = patch.groups ? this.groupIds(patch.groups) : null;
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE users SET enabled = ?, note = ?, updated = ? WHERE id = ?')
        .run(patch.enabled === undefined ? r.enabled : patch.enabled ? 1 : 0, patch.note ?? r.note, Date.now(), r.id);
      if (groupIds) {
        this.db.prepare('DELETE FROM group_members WHERE user_id = ?').run(r.id);
        for (const g of groupIds) this.db.prepare('INSERT INTO group_members(group_id, user_id) VALUES (?, ?)').run(g, r.id);
      }
    })();
    return this.get(r.name);
  }

  async setPassword(name: string, password: string): Promise<User> {
    checkPassword(password);
    const r = this.row(name);
    if (!r) throw new GatehouseError('E_NOT_FOUND', `no user named "${name}"`);
    const hash = await this.hashPassword(password);
    this.db.prepare('UPDATE users SET pass_hash = ?, updated = ? WHERE id = ?').run(hash, Date.now(), r.id);
    return this.get(r.name);
  }

  remove(name: string): void {
    const info = this.db.prepare('DELETE FROM users WHERE name = ? COLLATE NOCASE').run(name);
    if (info.changes === 0) throw new GatehouseError('E_NOT_FOUND', `no user named "${name}"`);
  }

  listGroups(): Group[] {
    return this.db
      .prepare<[], { id: number; name: string; note: string }>('SELECT id, name, note FROM groups ORDER BY name COLLATE NOCASE')
      .all()
      .map((g) => ({
        name: g.name,
        note: g.note,
        members: this.db
          .prepare<[number], { name: string }>(
            'SELECT u.name FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = ? ORDER BY u.name COLLATE NOCASE',
          )
          .all(g.id)
          .map((r) => r.name),
      }));
  }

  addGroup(input: { name: string; note?: string; members?: string[] }): Group {
    const name = checkName('group', input.name);
    if (this.db.prepare('SELECT 1 FROM groups WHERE name = ? COLLATE NOCASE').get(name)) {
      throw new GatehouseError('E_VALIDATION', `a group named "${name}" already exists`);
    }
    const members = (input.members ?? []).map((m) => {
      const r = this.row(m);
      if (!r) throw new GatehouseError('E_VALIDATION', `unknown user "${m}" in the members of group "${name}"`);
      return r.id;
    });
    this.db.transaction(() => {
      const id = Number(this.db.prepare('INSERT INTO groups(name, note) VALUES (?, ?)').run(name, input.note ?? '').lastInsertRowid);
      for (const u of members) this.db.prepare('INSERT INTO group_members(group_id, user_id) VALUES (?, ?)').run(id, u);
    })();
    return this.listGroups().find((g) => g.name.toLowerCase() === name.toLowerCase())!;
  }

  updateGroup(name: string, patch: { note?: string; members?: string[] }): Group {
    const g = this.db.prepare<[string], { id: number; name: string; note: string }>('SELECT * FROM groups WHERE name = ? COLLATE NOCASE').get(name);
    if (!g) throw new GatehouseError('E_NOT_FOUND', `no group named "${name}"`);
    const members = patch.members?.map((m) => {
      const r = this.row(m);
      if (!r) throw new GatehouseError('E_VALIDATION', `unknown user "${m}" in the members of group "${g.name}"`);
      return r.id;
    });
    this.db.transaction(() => {
      this.db.prepare('UPDATE groups SET note = ? WHERE id = ?').run(patch.note ?? g.note, g.id);
      if (members) {
        this.db.prepare('DELETE FROM group_members WHERE group_id = ?').run(g.id);
        for (const u of members) this.db.prepare('INSERT INTO group_members(group_id, user_id) VALUES (?, ?)').run(g.id, u);
      }
    })();
    return this.listGroups().find((x) => x.name === g.name)!;
  }

  removeGroup(name: string): void {
    const info = this.db.prepare('DELETE FROM groups WHERE name = ? COLLATE NOCASE').run(name);
    if (info.changes === 0) throw new GatehouseError('E_NOT_FOUND', `no group named "${name}"`);
  }
}
