/**
 * The route editor (a dialog): which chain carries the traffic (or "direct",
 * an exception above a broader route), what to do when the chain is down,
 * what the route matches (destinations, users, groups, services: the rule
 * editor's inputs), where a new route goes in the order, and the route read
 * back in one line as it is typed.
 */
import { useState, type FormEvent } from 'react';
import { EMPTY_ROUTE, type Route, type RouteInput } from '../../../main/contract/index.js';
import type { UiError } from '../../store/errors.js';
import { useApp } from '../../store/hooks.js';
import { summarizeRoute } from '../../tunnels-text.js';
import { ChipSelect, TagInput } from '../Chips.js';
import { Modal, ModalFooter } from '../Modal.js';
import { ServicePicker } from '../ServicePicker.js';

export function RouteEditor({ route, onClose }: { route: Route | null; onClose: () => void }) {
  const routes = useApp((s) => s.routes);
  const chains = useApp((s) => s.chains);
  const users = useApp((s) => s.users);
  const groups = useApp((s) => s.groups);
  const addRoute = useApp((s) => s.addRoute);
  const updateRoute = useApp((s) => s.updateRoute);
  const [d, setD] = useState<RouteInput>(() => {
    const { id: _id, ...input } = route ?? { ...EMPTY_ROUTE, chain: chains[0]?.name ?? 'direct', id: 0 };
    return input;
  });
  const [position, setPosition] = useState(routes.length);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | string | null>(null);
  const patch = (p: Partial<RouteInput>) => setD((cur) => ({ ...cur, ...p }));
  const direct = d.chain.toLowerCase() === 'direct';
  const chainNames = chains.map((c) => c.name);
  // a chain the route names that is gone stays choosable, so the list shows what is saved
  const chainOptions = chainNames.some((n) => n.toLowerCase() === d.chain.toLowerCase()) || direct ? chainNames : [d.chain, ...chainNames];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    if (!d.chain.trim()) return setError('Choose the chain that carries this traffic (add one first under Upstream chains).');
    const input: RouteInput = { ...d, fallback: direct ? 'fail' : d.fallback };
    setBusy(true);
    setError(null);
    const r = route ? await updateRoute(route.id, input) : await addRoute(input, position);
    setBusy(false);
    if (r.ok) onClose();
    else setError(r.error);
  };

  const userOptions = [{ value: '*', label: 'Any signed-in user' }, ...users.map((u) => ({ value: u.name, label: u.name }))];

  return (
    <Modal
      title={route ? 'Edit route' : 'New route'}
      subtitle="Routes are checked from the top; the first that matches decides the way out. What matches no route goes direct."
      onClose={onClose}
      size="wide"
      testId="route-editor"
    >
      <form className="modal-form" onSubmit={(e) => void submit(e)} noValidate>
        <div className="modal-body rule-form">
          <div className="field-row">
            <div className="field">
              <label htmlFor="route-chain">Go out</label>
              <select id="route-chain" className="input select" value={d.chain} autoFocus onChange={(e) => patch({ chain: e.target.value })}>
                {chainOptions.map((n) => (
                  <option key={n} value={n}>
                    through {n}
                    {chainNames.includes(n) ? '' : ' (no longer exists)'}
                  </option>
                ))}
                <option value="direct">direct (no chain: an exception to the routes below)</option>
              </select>
            </div>
            {!direct && (
              <div className="field">
                <label htmlFor="route-fallback">When the chain is down</label>
                <select id="route-fallback" className="input select" value={d.fallback} onChange={(e) => patch({ fallback: e.target.value })}>
                  <option value="fail">the request fails (nothing leaves unprotected)</option>
                  <option value="direct">go direct instead</option>
                  {chainNames
                    .filter((n) => n.toLowerCase() !== d.chain.toLowerCase())
                    .map((n) => (
                      <option key={n} value={n}>
                        go through {n} instead
                      </option>
                    ))}
                </select>
              </div>
            )}
          </div>
          <div className="field-row">
            <label className="check">
              <input type="checkbox" checked={d.enabled} onChange={(e) => patch({ enabled: e.target.checked })} />
              <span>
                <b>Enabled</b> <span className="muted">— a route that is off is skipped</span>
              </span>
            </label>
            {!route && routes.length > 0 && (
              <div className="field field-inline">
                <label htmlFor="route-position">Place</label>
                <select id="route-position" className="input select" value={position} onChange={(e) => setPosition(Number(e.target.value))}>
                  <option value={0}>At the top (checked first)</option>
                  {routes.slice(1).map((r, i) => (
                    <option key={r.id} value={i + 1}>
                      Above route {i + 2}
                    </option>
                  ))}
                  <option value={routes.length}>At the bottom (checked last)</option>
                </select>
              </div>
            )}
          </div>

          <fieldset className="form-section">
            <legend>What it matches</legend>
            <p className="section-hint">Leave everything empty to send all traffic this way. A request must match every field filled in.</p>
            <div className="field">
              <label htmlFor="route-destinations">Destinations</label>
              <TagInput
                id="route-destinations"
                values={d.destinations}
                onChange={(v) => patch({ destinations: v })}
                placeholder="*.corp.example, 10.0.0.0/8"
                describedBy="route-destinations-help"
              />
              <p className="field-help" id="route-destinations-help">
                <code>*.example.com</code> is example.com and every name under it; an address or range such as{' '}
                <code>10.0.0.0/8</code>. Empty: anywhere.
              </p>
            </div>
            <div className="field-row">
              <div className="field field-grow">
                <label htmlFor="route-users">Users</label>
                <ChipSelect id="route-users" values={d.users} options={userOptions} onChange={(v) => patch({ users: v })} addLabel="Add a user…" emptyText="" />
              </div>
              <div className="field field-grow">
                <label htmlFor="route-groups">Groups</label>
                <ChipSelect
                  id="route-groups"
                  values={d.groups}
                  options={groups.map((g) => ({ value: g.name, label: g.name }))}
                  onChange={(v) => patch({ groups: v })}
                  addLabel="Add a group…"
                  emptyText="No groups yet (create them on the Users page)."
                />
              </div>
            </div>
            <ServicePicker values={d.services} onChange={(services) => patch({ services })} />
          </fieldset>

          <div className="field">
            <label htmlFor="route-note">Note</label>
            <input id="route-note" className="input" value={d.note} maxLength={500} placeholder="Why this route exists" onChange={(e) => patch({ note: e.target.value })} />
          </div>
          <div className="rule-preview is-allow" aria-live="polite">
            <span className="rule-preview-label">Reads as</span>
            <span data-testid="route-preview">{summarizeRoute(d)}</span>
          </div>
        </div>
        <ModalFooter
          error={
            error &&
            (typeof error === 'string' ? (
              error
            ) : (
              <>
                <b>Not saved.</b> {error.message}
                {error.code !== 'E_VALIDATION' && <span className="modal-error-hint"> {error.hint}</span>}
              </>
            ))
          }
        >
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Saving…' : route ? 'Save route' : 'Add route'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}
