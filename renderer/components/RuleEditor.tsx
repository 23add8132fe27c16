/**
 * The rule editor (a dialog): every field of a rule with a placeholder and an
 * example, grouped as who / where / when / limits, the rule read back in one
 * line as it is typed, and for a new rule where it goes in the order. A
 * refused save shows the server's message (which names the field and the bad
 * value) beside the buttons and keeps everything typed.
 */
import { useState, type FormEvent, type ReactNode } from 'react';
import { EMPTY_RULE, type Rule, type RuleInput, type RuleLimits, type RuleService } from '../../main/contract/index.js';
import type { UiError } from '../store/errors.js';
import { useApp } from '../store/hooks.js';
import { WEEK, fieldOfError, shadowOf, sourcesText, summarizeRule, type FieldKey } from '../rules-text.js';
import { ChipSelect, TagInput } from './Chips.js';
import { Modal, ModalFooter } from './Modal.js';
import { Segmented } from './Segmented.js';
import { Summary } from './Summary.js';
import { useLoginMode } from './LoginModes.js';
import { ServicePicker } from './ServicePicker.js';

interface Draft {
  name: string;
  enabled: boolean;
  action: 'allow' | 'deny';
  services: RuleService[];
  sources: string[];
  users: string[];
  groups: string[];
  destinations: string[];
  ports: string;
  timed: boolean;
  days: number[];
  from: string;
  to: string;
  maxConnections: string;
  upKBps: string;
  downKBps: string;
  note: string;
}

function toDraft(r: RuleInput): Draft {
  return {
    name: r.name,
    enabled: r.enabled,
    action: r.action,
    services: [...r.services],
    sources: [...r.sources],
    users: [...r.users],
    groups: [...r.groups],
    destinations: [...r.destinations],
    ports: r.ports,
    timed: r.schedule !== null,
    days: r.schedule ? [...r.schedule.days] : [1, 2, 3, 4, 5],
    from: r.schedule?.from ?? '09:00',
    to: r.schedule?.to ?? '17:00',
    maxConnections: r.limits?.maxConnections?.toString() ?? '',
    upKBps: r.limits?.upKBps?.toString() ?? '',
    downKBps: r.limits?.downKBps?.toString() ?? '',
    note: r.note,
  };
}

const LIMIT_FIELDS = [
  { key: 'maxConnections', label: 'Connections at once' },
  { key: 'upKBps', label: 'Upload KB/s' },
  { key: 'downKBps', label: 'Download KB/s' },
] as const;

/** The draft as a rule; a limit that is not a whole number is reported by its label. */
function fromDraft(d: Draft): { rule: RuleInput } | { error: string } {
  const limits: RuleLimits = { maxConnections: null, upKBps: null, downKBps: null };
  if (d.action === 'allow') {
    for (const f of LIMIT_FIELDS) {
      const t = d[f.key].trim();
      if (!t) continue;
      if (!/^\d+$/.test(t) || Number(t) < 1) return { error: `${f.label}: "${t}" is not a whole number above 0 (leave it empty for no limit).` };
      limits[f.key] = Number(t);
    }
  }
  const hasLimits = limits.maxConnections !== null || limits.upKBps !== null || limits.downKBps !== null;
  return {
    rule: {
      name: d.name,
      enabled: d.enabled,
      action: d.action,
      services: d.services,
      sources: d.sources,
      users: d.users,
      groups: d.groups,
      destinations: d.destinations,
      ports: d.ports,
      schedule: d.timed ? { days: d.days, from: d.from, to: d.to } : null,
      limits: hasLimits ? limits : null,
      note: d.note,
    },
  };
}

function Section({ title, hint, children }: { title: string; hint?: string; children: ReactNode }) {
  return (
    <fieldset className="form-section">
      <legend>{title}</legend>
      {hint && <p className="section-hint">{hint}</p>}
      {children}
    </fieldset>
  );
}

function Help({ id, children }: { id?: string; children: ReactNode }) {
  return (
    <p className="field-help" id={id}>
      {children}
    </p>
  );
}

/** Where a new rule goes: its index in the order. */
type Position = number;

const FIELD_OF_DRAFT: Partial<Record<keyof Draft, FieldKey>> = {
  name: 'name',
  users: 'users',
  groups: 'groups',
  sources: 'sources',
  destinations: 'destinations',
  ports: 'ports',
  timed: 'schedule',
  days: 'schedule',
  from: 'schedule',
  to: 'schedule',
  maxConnections: 'limits',
  upKBps: 'limits',
  downKBps: 'limits',
};

const FOCUS_ID: Record<FieldKey, string> = {
  name: 'rule-name',
  users: 'rule-users',
  groups: 'rule-groups',
  sources: 'rule-sources',
  destinations: 'rule-destinations',
  ports: 'rule-ports',
  schedule: 'rule-from',
  limits: 'rule-maxConnections',
};

export function RuleEditor({ rule, onClose }: { rule: Rule | null; onClose: () => void }) {
  const rules = useApp((s) => s.rules);
  const users = useApp((s) => s.users);
  const groups = useApp((s) => s.groups);
  const addRule = useApp((s) => s.addRule);
  const updateRule = useApp((s) => s.updateRule);
  const httpLogin = useLoginMode('http');
  const socksLogin = useLoginMode('socks');
  const [d, setD] = useState<Draft>(() => toDraft(rule ?? { ...EMPTY_RULE, action: 'deny' }));
  const [position, setPosition] = useState<Position>(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<UiError | string | null>(null);
  const bad = error && typeof error !== 'string' ? fieldOfError(error.message) : null;
  const patch = (p: Partial<Draft>) => {
    setD((cur) => ({ ...cur, ...p }));
    // editing the field the server named takes its message away
    if (bad && Object.keys(p).some((k) => FIELD_OF_DRAFT[k as keyof Draft] === bad)) setError(null);
  };

  const built = fromDraft(d);
  const preview = 'rule' in built ? summarizeRule(built.rule) : null;
  // where the rule will sit, to warn when a rule above catches its requests first
  const index = rule ? rules.findIndex((r) => r.id === rule.id) : position;
  const placed = 'rule' in built ? [...rules.filter((r) => r.id !== rule?.id)] : [];
  if ('rule' in built) placed.splice(index < 0 ? placed.length : index, 0, { ...built.rule, id: -1 });
  const shadow = 'rule' in built && built.rule.enabled ? shadowOf(placed, index < 0 ? placed.length - 1 : index) : null;
  const shadowRule = shadow ? placed[shadow.index] : null;
  const namesPeople = d.users.length > 0 || d.groups.length > 0;
  // the services this rule applies to where nobody signs in (port mappings never ask): names cannot match there
  const relevant = d.services.length ? d.services : (['http', 'socks'] as const);
  const noSignIn = relevant.filter((s) => (s === 'http' ? httpLogin === 'off' : s === 'socks' ? socksLogin === 'off' : true));
  const signInOff = noSignIn.length === relevant.length;
  const proxiesOff = noSignIn.filter((s) => s === 'http' || s === 'socks');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    if ('error' in built) return setError(built.error);
    setBusy(true);
    setError(null);
    const r = rule ? await updateRule(rule.id, built.rule) : await addRule(built.rule, position);
    setBusy(false);
    if (r.ok) return onClose();
    setError(r.error);
    const field = fieldOfError(r.error.message);
    if (field) document.getElementById(FOCUS_ID[field])?.focus();
  };

  const cls = (key: FieldKey, extra = '') => `field ${extra} ${bad === key ? 'is-invalid' : ''}`;

  const userOptions = [{ value: '*', label: 'Any signed-in user' }, ...users.map((u) => ({ value: u.name, label: u.name }))];

  return (
    <Modal
      title={rule ? `Edit rule “${rule.name}”` : 'New rule'}
      subtitle="Leave a field empty to match anything. A request must match every field that is filled in."
      onClose={onClose}
      size="wide"
      testId="rule-editor"
    >
      <form className="modal-form" onSubmit={(e) => void submit(e)} noValidate>
        <div className="modal-body rule-form">
          <div className="field-row field-row-main">
            <div className={cls('name', 'field-grow')}>
              <label htmlFor="rule-name">Name</label>
              <input
                id="rule-name"
                className="input"
                value={d.name}
                maxLength={100}
                autoFocus
                placeholder="e.g. No social media during work hours"
                onChange={(e) => patch({ name: e.target.value })}
              />
            </div>
            <div className="field">
              <span className="field-label" id="rule-action-label">
                Action
              </span>
              <Segmented
                label="Action"
                value={d.action}
                options={[
                  { value: 'allow', label: 'Allow' },
                  { value: 'deny', label: 'Deny' },
                ]}
                tone={(v) => (v === 'allow' ? 'tone-allow' : 'tone-deny')}
                onChange={(action) => patch({ action })}
                testId="rule-action"
              />
            </div>
          </div>
          <div className="field-row">
            <label className="check">
              <input type="checkbox" checked={d.enabled} onChange={(e) => patch({ enabled: e.target.checked })} />
              <span>
                <b>Enabled</b> <span className="muted">— a rule that is off is skipped</span>
              </span>
            </label>
            {!rule && (
              <div className="field field-inline">
                <label htmlFor="rule-position">Place</label>
                <select id="rule-position" className="input select" value={position} onChange={(e) => setPosition(Number(e.target.value))}>
                  <option value={0}>At the top (checked first)</option>
                  {rules.slice(1).map((r, i) => (
                    <option key={r.id} value={i + 1}>
                      Above rule {i + 2} “{r.name}”
                    </option>
                  ))}
                  {rules.length > 0 && <option value={rules.length}>At the bottom (checked last)</option>}
                </select>
              </div>
            )}
          </div>

          <Section title="Who" hint="Which devices and people this rule is about.">
            <div className="field-row">
              <div className={cls('users', 'field-grow')}>
                <label htmlFor="rule-users">Users</label>
                <ChipSelect
                  id="rule-users"
                  values={d.users}
                  options={userOptions}
                  onChange={(v) => patch({ users: v })}
                  addLabel="Add a user…"
                  emptyText=""
                  describedBy="rule-users-help"
                />
                <Help id="rule-users-help">Empty: anyone, signed in or not. “Any signed-in user”: everyone who signed in.</Help>
              </div>
              <div className={cls('groups', 'field-grow')}>
                <label htmlFor="rule-groups">Groups</label>
                <ChipSelect
                  id="rule-groups"
                  values={d.groups}
                  options={groups.map((g) => ({ value: g.name, label: g.name }))}
                  onChange={(v) => patch({ groups: v })}
                  addLabel="Add a group…"
                  emptyText="No groups yet (create them on the Users page)."
                />
                <Help>Matches every member. A user or a group is enough.</Help>
              </div>
            </div>
            {namesPeople && signInOff && (
              <p className="note">
                {proxiesOff.length === 0
                  ? 'Nobody signs in to a port mapping, '
                  : `Sign-in is off for ${proxiesOff.length === 2 ? 'both proxies' : proxiesOff[0] === 'http' ? 'the HTTP/HTTPS proxy' : 'the SOCKS proxy'}${proxiesOff.length < noSignIn.length ? ' and nobody signs in to a port mapping' : ''}, `}
                so nobody is known by name there and this rule cannot match.
                {proxiesOff.length > 0 && ' Set sign-in to Optional or Required on the Users page.'}
              </p>
            )}
            <div className="field-row">
              <div className={cls('sources', 'field-grow')}>
                <label htmlFor="rule-sources">From addresses</label>
                <TagInput
                  id="rule-sources"
                  values={d.sources}
                  onChange={(v) => patch({ sources: v })}
                  placeholder="local, 192.168.1.0/24, 10.0.0.5"
                  describedBy="rule-sources-help"
                />
                <Help id="rule-sources-help">
                  The device’s address: <code>local</code> (this network), an address, or a range like{' '}
                  <code>192.168.1.0/24</code>. Empty: any device.
                </Help>
              </div>
              <ServicePicker values={d.services} onChange={(services) => patch({ services })} />
            </div>
          </Section>

          <Section title="Where to" hint="The sites or servers the request goes to.">
            <div className="field-row">
              <div className={cls('destinations', 'field-grow')}>
                <label htmlFor="rule-destinations">Destinations</label>
                <TagInput
                  id="rule-destinations"
                  values={d.destinations}
                  onChange={(v) => patch({ destinations: v })}
                  placeholder="*.facebook.com, mail.example.com, 10.0.0.0/8"
                  describedBy="rule-destinations-help"
                />
                <Help id="rule-destinations-help">
                  <code>*.example.com</code> is example.com and every name under it; <code>www.example.com</code> only
                  that name; an address or range such as <code>10.0.0.0/8</code> matches requests made to addresses.
                  Empty: anywhere.
                </Help>
              </div>
              <div className={cls('ports', 'field-ports')}>
                <label htmlFor="rule-ports">Ports</label>
                <input
                  id="rule-ports"
                  className="input mono"
                  value={d.ports}
                  spellCheck={false}
                  autoComplete="off"
                  placeholder="80,443,8000-8100"
                  aria-describedby="rule-ports-help"
                  onChange={(e) => patch({ ports: e.target.value })}
                />
                <Help id="rule-ports-help">
                  Web: <code>80,443</code>. Mail: <code>25,465,587</code>. Empty: any port.
                </Help>
              </div>
            </div>
          </Section>

          <Section title="When">
            <label className="check">
              <input type="checkbox" checked={d.timed} onChange={(e) => patch({ timed: e.target.checked })} />
              <span>Only at certain times (this PC’s clock)</span>
            </label>
            {d.timed && (
              <div className="schedule">
                <div className="days" role="group" aria-label="Weekdays">
                  {WEEK.map((w) => {
                    const on = d.days.includes(w.day);
                    return (
                      <button
                        key={w.day}
                        type="button"
                        className={`day ${on ? 'is-on' : ''}`}
                        aria-pressed={on}
                        title={w.long}
                        onClick={() => patch({ days: on ? d.days.filter((x) => x !== w.day) : [...d.days, w.day].sort() })}
                      >
                        {w.short}
                      </button>
                    );
                  })}
                  <span className="day-presets">
                    <button type="button" className="link small" onClick={() => patch({ days: [1, 2, 3, 4, 5] })}>
                      Weekdays
                    </button>
                    <button type="button" className="link small" onClick={() => patch({ days: [0, 6] })}>
                      Weekend
                    </button>
                    <button type="button" className="link small" onClick={() => patch({ days: [0, 1, 2, 3, 4, 5, 6] })}>
                      Every day
                    </button>
                  </span>
                </div>
                <div className={`times ${bad === 'schedule' ? 'is-invalid' : ''}`}>
                  <label htmlFor="rule-from">From</label>
                  <input
                    id="rule-from"
                    className="input mono time"
                    value={d.from}
                    placeholder="09:00"
                    onChange={(e) => patch({ from: e.target.value })}
                  />
                  <label htmlFor="rule-to">until</label>
                  <input id="rule-to" className="input mono time" value={d.to} placeholder="17:00" onChange={(e) => patch({ to: e.target.value })} />
                  <span className="field-help">24-hour clock. 22:00 until 06:00 runs past midnight.</span>
                </div>
              </div>
            )}
          </Section>

          <Section title="Limits" hint={d.action === 'allow' ? 'For each user (or each device when nobody signed in). Empty: no limit.' : undefined}>
            {d.action === 'allow' ? (
              <div className="field-row limits">
                {LIMIT_FIELDS.map((f) => (
                  <div key={f.key} className={cls('limits')}>
                    <label htmlFor={`rule-${f.key}`}>{f.label}</label>
                    <input
                      id={`rule-${f.key}`}
                      className="input mono"
                      inputMode="numeric"
                      value={d[f.key]}
                      placeholder={f.key === 'maxConnections' ? 'e.g. 20' : 'e.g. 500'}
                      onChange={(e) => patch({ [f.key]: e.target.value } as Partial<Draft>)}
                    />
                  </div>
                ))}
              </div>
            ) : (
              <p className="section-hint">A deny rule refuses the request, so it has no limits.</p>
            )}
          </Section>

          <div className="field">
            <label htmlFor="rule-note">Note</label>
            <textarea
              id="rule-note"
              className="input textarea"
              rows={2}
              maxLength={500}
              value={d.note}
              placeholder="Why this rule exists, for whoever reads it later"
              onChange={(e) => patch({ note: e.target.value })}
            />
          </div>

          <div className={`rule-preview ${d.action === 'allow' ? 'is-allow' : 'is-deny'}`} aria-live="polite">
            <span className="rule-preview-label">Reads as</span>
            <span data-testid="rule-preview">{preview ? <Summary text={preview} /> : '—'}</span>
          </div>
          {shadow && shadowRule && (
            <p className="note" data-testid="rule-shadow-warning">
              Rule {shadow.index + 1} “{shadowRule.name}” above catches{' '}
              {shadow.whole ? 'every request this rule could match' : `every request from ${sourcesText(shadowRule.sources)}`}, so
              {shadow.whole ? ' this rule is never reached' : ' those never reach this rule'}. Place it above that rule.
            </p>
          )}
        </div>
        <ModalFooter
          error={
            error &&
            (typeof error === 'string' ? (
              error
            ) : (
              <>
                <b>Not saved.</b> <span className="mono">{error.message}</span>
                {error.code !== 'E_VALIDATION' && <span className="modal-error-hint"> {error.hint}</span>}
              </>
            ))
          }
        >
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Saving…' : rule ? 'Save rule' : 'Add rule'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}
