/**
 * Users: who may sign in to the proxies. Sign-in mode per proxy at the top;
 * the users with search, enable switch, live connection count and actions
 * (edit, new password, disconnect now, delete); groups below.
 */
import { useEffect, useMemo, useState } from 'react';
import type { Group, User } from '../../main/contract/index.js';
import { useApp } from '../store/hooks.js';
import { ErrorCallout } from '../components/ErrorCallout.js';
import { LoginModes, useLoginMode } from '../components/LoginModes.js';
import { Toggle } from '../components/Toggle.js';
import { ChipList } from '../components/Chips.js';
import { DeleteGroupDialog, DeleteUserDialog, GroupDialog, PasswordDialog, UserDialog } from '../components/UserDialogs.js';

type Dialog =
  | { kind: 'add' }
  | { kind: 'edit'; user: User }
  | { kind: 'password'; user: User }
  | { kind: 'delete'; user: User }
  | { kind: 'group'; group: Group | null }
  | { kind: 'deleteGroup'; group: Group };

function matches(u: User, q: string): boolean {
  if (!q) return true;
  const t = q.toLowerCase();
  return u.name.toLowerCase().includes(t) || u.note.toLowerCase().includes(t) || u.groups.some((g) => g.toLowerCase().includes(t));
}

function UserRow({ user, onDialog }: { user: User; onDialog: (d: Dialog) => void }) {
  const setEnabled = useApp((s) => s.setUserEnabled);
  const disconnectUser = useApp((s) => s.disconnectUser);
  const live = useApp((s) => s.connections.filter((c) => c.user.toLowerCase() === user.name.toLowerCase()).length);
  const busy = useApp((s) => s.disconnecting[user.name.toLowerCase()] ?? false);
  const note = useApp((s) => (s.disconnectNote?.key === user.name.toLowerCase() ? s.disconnectNote : null));
  return (
    <tr data-testid="user-row" data-user={user.name} className={user.enabled ? undefined : 'is-off'}>
      <td className="col-user">
        <span className="user-name">{user.name}</span>
        {!user.enabled && <span className="tag">off</span>}
        {user.note && <span className="user-note muted small">{user.note}</span>}
      </td>
      <td className="col-groups">
        <ChipList items={user.groups} empty="—" />
      </td>
      <td className="col-enabled">
        <Toggle
          checked={user.enabled}
          label={user.enabled ? `${user.name} can sign in (click to turn off)` : `${user.name} is turned off (click to allow sign-in)`}
          onChange={(v) => void setEnabled(user.name, v)}
        />
      </td>
      <td className="col-live">
        <div className="live-cell">
          <span className={`live-count ${live ? 'is-live' : ''}`}>{live ? `${live} open` : 'none'}</span>
          <button
            type="button"
            className={`btn btn-small ${live ? '' : 'btn-quiet'}`}
            disabled={busy}
            title={`End every open connection of ${user.name} now`}
            onClick={() => void disconnectUser(user.name)}
          >
            {busy ? 'Disconnecting…' : 'Disconnect now'}
          </button>
        </div>
        {note && (
          <span className={`small ${note.error ? 'field-error' : 'field-ok'}`} role="status">
            {note.text}
          </span>
        )}
      </td>
      <td className="col-actions">
        <button type="button" className="btn btn-small" onClick={() => onDialog({ kind: 'edit', user })}>
          Edit
        </button>
        <button type="button" className="btn btn-small" onClick={() => onDialog({ kind: 'password', user })}>
          New password
        </button>
        <button
          type="button"
          className="btn btn-small btn-danger-ghost"
          aria-label={`Delete ${user.name}`}
          onClick={() => onDialog({ kind: 'delete', user })}
        >
          Delete
        </button>
      </td>
    </tr>
  );
}

function GroupsCard({ onDialog }: { onDialog: (d: Dialog) => void }) {
  const groups = useApp((s) => s.groups);
  return (
    <section className="card" aria-labelledby="groups-title" data-testid="groups-card">
      <div className="card-head">
        <div>
          <h2 id="groups-title">Groups</h2>
          <p className="muted small">A rule can name a group instead of each of its members.</p>
        </div>
        <button type="button" className="btn" onClick={() => onDialog({ kind: 'group', group: null })}>
          New group
        </button>
      </div>
      {groups.length === 0 ? (
        <p className="muted">No groups yet. Groups such as “staff” or “kids” let one rule cover several people.</p>
      ) : (
        <ul className="group-list">
          {groups.map((g) => (
            <li key={g.name} className="group-item" data-testid="group-row" data-group={g.name}>
              <div className="group-main">
                <span className="group-name">{g.name}</span>
                <span className="muted small">
                  {g.members.length === 0 ? 'no members' : `${g.members.length} member${g.members.length === 1 ? '' : 's'}`}
                  {g.note && ` · ${g.note}`}
                </span>
                <ChipList items={g.members} />
              </div>
              <div className="group-actions">
                <button type="button" className="btn btn-small" onClick={() => onDialog({ kind: 'group', group: g })}>
                  Edit members
                </button>
                <button
                  type="button"
                  className="btn btn-small btn-danger-ghost"
                  aria-label={`Delete group ${g.name}`}
                  onClick={() => onDialog({ kind: 'deleteGroup', group: g })}
                >
                  Delete
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function UsersView() {
  const users = useApp((s) => s.users);
  const loaded = useApp((s) => s.usersLoaded);
  const error = useApp((s) => s.usersError);
  const reload = useApp((s) => s.loadUsers);
  const actionError = useApp((s) => s.usersActionError);
  const dismissActionError = useApp((s) => s.dismissUsersError);
  const watch = useApp((s) => s.watchConnections);
  const httpMode = useLoginMode('http');
  const socksMode = useLoginMode('socks');
  const [query, setQuery] = useState('');
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const close = () => setDialog(null);

  useEffect(() => watch(), [watch]);
  // changes made with the CLI send no event: take a fresh copy whenever the page opens
  useEffect(() => {
    void reload();
  }, [reload]);

  const shown = useMemo(() => users.filter((u) => matches(u, query.trim())), [users, query]);
  const signInOff = httpMode === 'off' && socksMode === 'off';

  return (
    <div className="page-stack users-page">
      <div className="page-head">
        <h1>Users</h1>
        <p className="muted">
          People who sign in to the proxies. Rules on the Rules page can allow or refuse them by name or group.
        </p>
      </div>

      <LoginModes />

      {error && <ErrorCallout title="Could not load the users" error={error} onDismiss={() => void reload()} />}
      {actionError && <ErrorCallout title="The change was not saved" error={actionError} onDismiss={dismissActionError} />}

      <section className="card" aria-labelledby="users-title">
        <div className="card-head toolbar">
          <h2 id="users-title">
            Users {users.length > 0 && <span className="count">{users.length}</span>}
          </h2>
          <div className="toolbar-right">
            <input
              type="search"
              className="input search"
              placeholder="Search name, note or group"
              aria-label="Search users"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
            />
            <button type="button" className="btn btn-primary" onClick={() => setDialog({ kind: 'add' })}>
              Add user
            </button>
          </div>
        </div>
        {signInOff && users.length > 0 && (
          <p className="note note-top">
            Sign-in is off for both proxies, so nobody uses these accounts yet. Set sign-in to Optional or Required above.
          </p>
        )}
        {!loaded ? (
          <p className="muted">Loading users…</p>
        ) : users.length === 0 ? (
          <div className="empty">
            <p className="empty-title">No users yet</p>
            <p className="muted">
              Without users, anyone the rules allow can use the proxies without signing in. Add a user for each person,
              then set sign-in to Required above.
            </p>
            <button type="button" className="btn btn-primary" onClick={() => setDialog({ kind: 'add' })}>
              Add the first user
            </button>
          </div>
        ) : (
          <div className="table-wrap table-plain">
            <table className="data-table" data-testid="users-table">
              <thead>
                <tr>
                  <th className="col-user">User</th>
                  <th className="col-groups">Groups</th>
                  <th className="col-enabled">Enabled</th>
                  <th className="col-live">Open connections</th>
                  <th className="col-actions">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {shown.map((u) => (
                  <UserRow key={u.name} user={u} onDialog={setDialog} />
                ))}
              </tbody>
            </table>
            {shown.length === 0 && (
              <p className="muted empty-search">
                No user matches “{query}”.{' '}
                <button type="button" className="link" onClick={() => setQuery('')}>
                  Show all
                </button>
              </p>
            )}
          </div>
        )}
      </section>

      <GroupsCard onDialog={setDialog} />

      {dialog?.kind === 'add' && <UserDialog user={null} onClose={close} />}
      {dialog?.kind === 'edit' && <UserDialog user={dialog.user} onClose={close} />}
      {dialog?.kind === 'password' && <PasswordDialog user={dialog.user} onClose={close} />}
      {dialog?.kind === 'delete' && <DeleteUserDialog user={dialog.user} onClose={close} />}
      {dialog?.kind === 'group' && <GroupDialog group={dialog.group} onClose={close} />}
      {dialog?.kind === 'deleteGroup' && <DeleteGroupDialog group={dialog.group} onClose={close} />}
    </div>
  );
}
