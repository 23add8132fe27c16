/**
 * The Users page's dialogs: add or edit a user, reset a password, delete a
 * user, and add or edit a group. Each keeps what was typed while it is open;
 * a refused save shows the server's message beside the buttons.
 */
import { useState, type FormEvent } from 'react';
import type { Group, User } from '../../main/contract/index.js';
import type { UiError } from '../store/errors.js';
import { useApp } from '../store/hooks.js';
import type { Outcome } from '../store/users.js';
import { ChipSelect } from './Chips.js';
import { Modal, ModalFooter } from './Modal.js';

/** The state of a dialog's save: running, and the last refusal. */
function useSave(onDone: () => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | string | null>(null);
  const run = async (action: () => Promise<Outcome>) => {
    if (busy) return;
    setBusy(true);
    setError(null);
    const r = await action();
    setBusy(false);
    if (r.ok) onDone();
    else setError(r.error);
  };
  return { busy, error, setError, run };
}

function ErrorText({ error }: { error: UiError | string | null }) {
  if (!error) return null;
  if (typeof error === 'string') return <>{error}</>;
  return (
    <>
      <b>Not saved.</b> <span className="mono">{error.message}</span>
      {error.code !== 'E_VALIDATION' && <span className="modal-error-hint"> {error.hint}</span>}
    </>
  );
}

/** Names of the rules that mention a user or a group. */
export function useRulesNaming(kind: 'user' | 'group', name: string): string[] {
  const rules = useApp((s) => s.rules);
  const n = name.toLowerCase();
  return rules.filter((r) => (kind === 'user' ? r.users : r.groups).some((x) => x.toLowerCase() === n)).map((r) => r.name);
}

export function UserDialog({ user, onClose }: { user: User | null; onClose: () => void }) {
  const groups = useApp((s) => s.groups);
  const addUser = useApp((s) => s.addUser);
  const updateUser = useApp((s) => s.updateUser);
  const [name, setName] = useState(user?.name ?? '');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [chosen, setChosen] = useState<string[]>(user?.groups ?? []);
  const [note, setNote] = useState(user?.note ?? '');
  const [enabled, setEnabled] = useState(user?.enabled ?? true);
  const save = useSave(onClose);
  const mismatch = !user && confirm !== '' && password !== confirm;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!user) {
      if (!name.trim()) return save.setError('Enter a user name.');
      if (!password) return save.setError('Enter a password.');
      if (password !== confirm) return save.setError('The two passwords differ. Type the same password twice.');
      void save.run(() => addUser({ name: name.trim(), password, groups: chosen, note, enabled }));
    } else {
      void save.run(() => updateUser({ name: user.name, groups: chosen, note, enabled }));
    }
  };

  return (
    <Modal title={user ? `Edit user ${user.name}` : 'Add a user'} onClose={onClose} testId="user-dialog">
      <form className="modal-form" onSubmit={submit} noValidate>
        <div className="modal-body">
          {!user && (
            <div className="field">
              <label htmlFor="user-name">User name</label>
              <input
                id="user-name"
                className="input"
                value={name}
                autoFocus
                autoComplete="off"
                spellCheck={false}
                placeholder="e.g. alice"
                aria-describedby="user-name-hint"
                onChange={(e) => setName(e.target.value)}
              />
              <p className="field-help" id="user-name-hint">
                What the person types when the proxy asks them to sign in. Letters, digits, dot, dash, underscore or @.
              </p>
            </div>
          )}
          {!user && (
            <div className="field-row">
              <div className="field">
                <label htmlFor="user-password">Password</label>
                <input
                  id="user-password"
                  className="input"
                  type="password"
                  autoComplete="new-password"
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                />
              </div>
              <div className="field">
                <label htmlFor="user-confirm">Confirm password</label>
                <input
                  id="user-confirm"
                  className="input"
                  type="password"
                  autoComplete="new-password"
                  value={confirm}
                  aria-invalid={mismatch || undefined}
                  onChange={(e) => setConfirm(e.target.value)}
                />
                {mismatch && <p className="field-error">The passwords differ.</p>}
              </div>
            </div>
          )}
          <div className="field">
            <label htmlFor="user-groups">Groups</label>
            <ChipSelect
              id="user-groups"
              values={chosen}
              options={groups.map((g) => ({ value: g.name, label: g.name }))}
              onChange={setChosen}
              addLabel="Add to a group…"
              emptyText="No groups yet. Create one under Groups on this page."
            />
            <p className="field-help">Rules can name a group instead of each of its members.</p>
          </div>
          <div className="field">
            <label htmlFor="user-note">Note</label>
            <input
              id="user-note"
              className="input"
              value={note}
              maxLength={500}
              placeholder="e.g. Alice's laptop and phone"
              onChange={(e) => setNote(e.target.value)}
            />
          </div>
          <label className="check">
            <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
            <span>
              <b>Enabled</b> <span className="muted">— can sign in. Turn off to lock the user out without deleting them.</span>
            </span>
          </label>
        </div>
        <ModalFooter error={save.error && <ErrorText error={save.error} />}>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.busy}>
            {save.busy ? 'Saving…' : user ? 'Save' : 'Add user'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}

export function PasswordDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const setPassword = useApp((s) => s.setUserPassword);
  const [pw, setPw] = useState('');
  const [confirm, setConfirm] = useState('');
  const save = useSave(onClose);
  const mismatch = confirm !== '' && pw !== confirm;
  return (
    <Modal
      title={`New password for ${user.name}`}
      subtitle="Devices that are signed in now keep their open connections; they need the new password for new ones."
      onClose={onClose}
      size="small"
      testId="password-dialog"
    >
      <form
        className="modal-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!pw) return save.setError('Enter the new password.');
          if (pw !== confirm) return save.setError('The two passwords differ. Type the same password twice.');
          void save.run(() => setPassword(user.name, pw));
        }}
      >
        <div className="modal-body">
          <div className="field">
            <label htmlFor="pw-new">New password</label>
            <input id="pw-new" className="input" type="password" autoComplete="new-password" autoFocus value={pw} onChange={(e) => setPw(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="pw-confirm">Confirm new password</label>
            <input
              id="pw-confirm"
              className="input"
              type="password"
              autoComplete="new-password"
              value={confirm}
              aria-invalid={mismatch || undefined}
              onChange={(e) => setConfirm(e.target.value)}
            />
            {mismatch && <p className="field-error">The passwords differ.</p>}
          </div>
        </div>
        <ModalFooter error={save.error && <ErrorText error={save.error} />}>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.busy}>
            {save.busy ? 'Saving…' : 'Set password'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}

export function DeleteUserDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const removeUser = useApp((s) => s.removeUser);
  const disconnectUser = useApp((s) => s.disconnectUser);
  const live = useApp((s) => s.connections.filter((c) => c.user.toLowerCase() === user.name.toLowerCase()).length);
  const naming = useRulesNaming('user', user.name);
  const [disconnect, setDisconnect] = useState(true);
  const save = useSave(onClose);
  return (
    <Modal title={`Delete user ${user.name}?`} onClose={onClose} size="small" testId="delete-user-dialog">
      <form
        className="modal-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save.run(async () => {
            const r = await removeUser(user.name);
            if (r.ok && disconnect) await disconnectUser(user.name);
            return r;
          });
        }}
      >
        <div className="modal-body">
          <p>
            <b>{user.name}</b> can no longer sign in. This cannot be undone; to lock them out for a while, turn the user off
            instead.
          </p>
          {naming.length > 0 && (
            <p className="note">
              {naming.length === 1 ? 'Rule' : 'Rules'} {naming.map((n) => `“${n}”`).join(', ')} {naming.length === 1 ? 'names' : 'name'}{' '}
              {user.name}. Edit {naming.length === 1 ? 'it' : 'them'} on the Rules page afterwards.
            </p>
          )}
          <label className="check">
            <input type="checkbox" checked={disconnect} onChange={(e) => setDisconnect(e.target.checked)} />
            <span>
              Also end {user.name}’s open connections now
              {live > 0 ? ` (${live} open)` : ''}. Otherwise they keep running until they close.
            </span>
          </label>
        </div>
        <ModalFooter error={save.error && <ErrorText error={save.error} />}>
          <button type="button" className="btn" onClick={onClose} autoFocus>
            Cancel
          </button>
          <button type="submit" className="btn btn-danger" disabled={save.busy}>
            {save.busy ? 'Deleting…' : 'Delete user'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}

export function GroupDialog({ group, onClose }: { group: Group | null; onClose: () => void }) {
  const users = useApp((s) => s.users);
  const addGroup = useApp((s) => s.addGroup);
  const updateGroup = useApp((s) => s.updateGroup);
  const [name, setName] = useState(group?.name ?? '');
  const [members, setMembers] = useState<string[]>(group?.members ?? []);
  const [note, setNote] = useState(group?.note ?? '');
  const save = useSave(onClose);
  return (
    <Modal title={group ? `Edit group ${group.name}` : 'New group'} onClose={onClose} testId="group-dialog">
      <form
        className="modal-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!group && !name.trim()) return save.setError('Enter a group name.');
          void save.run(() =>
            group ? updateGroup({ name: group.name, members, note }) : addGroup({ name: name.trim(), members, note }),
          );
        }}
      >
        <div className="modal-body">
          {!group && (
            <div className="field">
              <label htmlFor="group-name">Group name</label>
              <input
                id="group-name"
                className="input"
                value={name}
                autoFocus
                autoComplete="off"
                spellCheck={false}
                placeholder="e.g. staff, kids, guests"
                onChange={(e) => setName(e.target.value)}
              />
            </div>
          )}
          <div className="field">
            <label htmlFor="group-members">Members</label>
            <ChipSelect
              id="group-members"
              values={members}
              options={users.map((u) => ({ value: u.name, label: u.name }))}
              onChange={setMembers}
              addLabel="Add a member…"
              emptyText="No users yet. Add users first, or add them to this group later."
            />
          </div>
          <div className="field">
            <label htmlFor="group-note">Note</label>
            <input
              id="group-note"
              className="input"
              value={note}
              maxLength={500}
              placeholder="e.g. Office computers, weekdays only"
              onChange={(e) => setNote(e.target.value)}
            />
          </div>
        </div>
        <ModalFooter error={save.error && <ErrorText error={save.error} />}>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.busy}>
            {save.busy ? 'Saving…' : group ? 'Save' : 'Create group'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}

export function DeleteGroupDialog({ group, onClose }: { group: Group; onClose: () => void }) {
  const removeGroup = useApp((s) => s.removeGroup);
  const naming = useRulesNaming('group', group.name);
  const save = useSave(onClose);
  return (
    <Modal title={`Delete group ${group.name}?`} onClose={onClose} size="small" testId="delete-group-dialog">
      <form
        className="modal-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save.run(() => removeGroup(group.name));
        }}
      >
        <div className="modal-body">
          <p>
            {group.members.length === 0
              ? 'The group has no members.'
              : `Its ${group.members.length === 1 ? 'member stays a user' : `${group.members.length} members stay users`}; only the group goes.`}
          </p>
          {naming.length > 0 && (
            <p className="note">
              {naming.length === 1 ? 'Rule' : 'Rules'} {naming.map((n) => `“${n}”`).join(', ')} {naming.length === 1 ? 'names' : 'name'}{' '}
              this group and will no longer match its members. Edit {naming.length === 1 ? 'it' : 'them'} on the Rules page.
            </p>
          )}
        </div>
        <ModalFooter error={save.error && <ErrorText error={save.error} />}>
          <button type="button" className="btn" onClick={onClose} autoFocus>
            Cancel
          </button>
          <button type="submit" className="btn btn-danger" disabled={save.busy}>
            {save.busy ? 'Deleting…' : 'Delete group'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}
