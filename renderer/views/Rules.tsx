/**
 * Rules: the ordered list (first match wins) with enable switch, action badge,
 * the rule in one line, move up/down, edit and delete; the default action
 * under it; the tester beside it, whose answer highlights the deciding rule,
 * and the routes in short; and the open connections, which rule changes
 * leave running.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import type { Rule } from '../../main/contract/index.js';
import { useApp } from '../store/hooks.js';
import { ErrorCallout } from '../components/ErrorCallout.js';
import { Modal, ModalFooter } from '../components/Modal.js';
import { RuleEditor } from '../components/RuleEditor.js';
import { RuleTester } from '../components/RuleTester.js';
import { LiveConnections } from '../components/LiveConnections.js';
import { Segmented } from '../components/Segmented.js';
import { Toggle } from '../components/Toggle.js';
import { shadowOf, sourcesText, summarizeRule } from '../rules-text.js';
import { Summary } from '../components/Summary.js';
import { RoutesSummary } from '../components/tunnels/RoutesSummary.js';

type Dialog = { kind: 'edit'; rule: Rule | null } | { kind: 'delete'; rule: Rule };


function RuleRow({ rules, index, onDialog }: { rules: Rule[]; index: number; onDialog: (d: Dialog) => void }) {
  const rule = rules[index]!;
  const count = rules.length;
  const busy = useApp((s) => s.rulesBusy);
  const setEnabled = useApp((s) => s.setRuleEnabled);
  const move = useApp((s) => s.moveRule);
  const matched = useApp((s) => s.ruleTest.result?.ruleId === rule.id && !s.ruleTest.pending);
  const stale = useApp((s) => s.ruleTest.stale);
  const shadow = useMemo(() => (rule.enabled ? shadowOf(rules, index) : null), [rules, index, rule.enabled]);
  const shadowName = shadow ? rules[shadow.index]?.name : undefined;
  const missing = useMissingNames(rule);
  const ref = useRef<HTMLLIElement>(null);

  useEffect(() => {
    if (matched && !stale) ref.current?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }, [matched, stale]);

  return (
    <li
      ref={ref}
      className={`rule ${rule.enabled ? '' : 'is-off'} ${matched ? 'is-match' : ''}`}
      data-testid="rule-row"
      data-rule={rule.name}
      data-match={matched || undefined}
    >
      <span className="rule-num" aria-label={`Rule ${index + 1}`}>
        {index + 1}
      </span>
      <Toggle
        checked={rule.enabled}
        disabled={busy}
        label={rule.enabled ? `Rule “${rule.name}” is on (click to turn off)` : `Rule “${rule.name}” is off (click to turn on)`}
        onChange={(v) => void setEnabled(rule.id, v)}
      />
      <span className={`badge badge-${rule.action}`}>{rule.action === 'allow' ? 'Allow' : 'Deny'}</span>
      <div className="rule-body">
        <div className="rule-title">
          <span className="rule-name">{rule.name}</span>
          {!rule.enabled && <span className="tag">off</span>}
          {matched && <span className="tag tag-match">{stale ? 'decided the last check' : 'decided the check'}</span>}
        </div>
        <p className="rule-summary" data-testid="rule-summary">
          <Summary text={summarizeRule(rule)} />
        </p>
        {rule.note && <p className="rule-note">{rule.note}</p>}
        {missing.length > 0 && (
          <p className="rule-warning">
            Names {missing.join(', ')}, which no longer {missing.length === 1 ? 'exists' : 'exist'}: this part never matches,
            and the rule cannot be saved until you edit it and take {missing.length === 1 ? 'it' : 'them'} out.
          </p>
        )}
        {shadow && (
          <p className="rule-warning">
            {shadow.whole
              ? `Never reached: rule ${shadow.index + 1} “${shadowName}” above already decides every request this rule could match. Move this rule above it.`
              : `Requests from ${sourcesText(rules[shadow.index]!.sources)} never reach this rule: rule ${shadow.index + 1} “${shadowName}” above decides them first. Move this rule above it to apply it to them too.`}
          </p>
        )}
      </div>
      <div className="rule-actions">
        <div className="move-buttons">
          <button
            type="button"
            className="btn btn-icon"
            disabled={busy || index === 0}
            aria-label={`Move “${rule.name}” up`}
            title="Move up (checked earlier)"
            onClick={() => void move(rule.id, index - 1)}
          >
            ↑
          </button>
          <button
            type="button"
            className="btn btn-icon"
            disabled={busy || index === count - 1}
            aria-label={`Move “${rule.name}” down`}
            title="Move down (checked later)"
            onClick={() => void move(rule.id, index + 1)}
          >
            ↓
          </button>
        </div>
        <button type="button" className="btn btn-small" onClick={() => onDialog({ kind: 'edit', rule })}>
          Edit
        </button>
        <button
          type="button"
          className="btn btn-small btn-danger-ghost"
          aria-label={`Delete rule “${rule.name}”`}
          onClick={() => onDialog({ kind: 'delete', rule })}
        >
          Delete
        </button>
      </div>
    </li>
  );
}

/** Users and groups a rule names that are gone (deleted after the rule was written). */
function useMissingNames(rule: Rule): string[] {
  const users = useApp((s) => s.users);
  const groups = useApp((s) => s.groups);
  const loaded = useApp((s) => s.usersLoaded && s.usersError === null);
  return useMemo(() => {
    if (!loaded) return [];
    const u = new Set(users.map((x) => x.name.toLowerCase()));
    const g = new Set(groups.map((x) => x.name.toLowerCase()));
    return [
      ...rule.users.filter((n) => n !== '*' && !u.has(n.toLowerCase())).map((n) => `user “${n}”`),
      ...rule.groups.filter((n) => !g.has(n.toLowerCase())).map((n) => `group “${n}”`),
    ];
  }, [rule, users, groups, loaded]);
}

function DefaultRow() {
  const action = useApp((s) => s.defaultAction);
  const busy = useApp((s) => s.rulesBusy);
  const setDefault = useApp((s) => s.setDefaultAction);
  const matched = useApp((s) => s.ruleTest.result?.rule === 'default' && !s.ruleTest.pending);
  return (
    <div className={`rule rule-default ${matched ? 'is-match' : ''}`} data-testid="default-action" data-action={action ?? ''}>
      <span className="rule-num" aria-hidden="true">
        ∗
      </span>
      <div className="rule-body">
        <div className="rule-title">
          <span className="rule-name">Everything else</span>
          {matched && <span className="tag tag-match">decided the check</span>}
        </div>
        <p className="rule-summary">
          {action === 'allow'
            ? 'Requests that no rule above matches are allowed.'
            : 'Requests that no rule above matches are refused. This keeps Gatehouse from being an open proxy.'}
        </p>
      </div>
      <Segmented
        label="Everything else"
        value={action}
        disabled={busy || action === null}
        options={[
          { value: 'allow', label: 'Allow' },
          { value: 'deny', label: 'Deny' },
        ]}
        tone={(v) => (v === 'allow' ? 'tone-allow' : 'tone-deny')}
        onChange={(a) => void setDefault(a)}
      />
    </div>
  );
}

function DeleteRuleDialog({ rule, onClose }: { rule: Rule; onClose: () => void }) {
  const remove = useApp((s) => s.removeRule);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal title={`Delete rule “${rule.name}”?`} onClose={onClose} size="small" testId="delete-rule-dialog">
      <form
        className="modal-form"
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          void remove(rule.id).then((r) => {
            setBusy(false);
            if (r.ok) onClose();
            else setError(`${r.error.message} ${r.error.hint}`);
          });
        }}
      >
        <div className="modal-body">
          <p className="rule-summary">
            <Summary text={summarizeRule(rule)} />
          </p>
          <p className="muted">
            New requests are then decided by the rules below it, or the default action. To stop it for a while, turn it
            off instead.
          </p>
        </div>
        <ModalFooter error={error}>
          <button type="button" className="btn" onClick={onClose} autoFocus>
            Cancel
          </button>
          <button type="submit" className="btn btn-danger" disabled={busy}>
            {busy ? 'Deleting…' : 'Delete rule'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}

export function RulesView() {
  const rules = useApp((s) => s.rules);
  const loaded = useApp((s) => s.rulesLoaded);
  const error = useApp((s) => s.rulesError);
  const actionError = useApp((s) => s.rulesActionError);
  const dismiss = useApp((s) => s.dismissRulesError);
  const reload = useApp((s) => s.loadRules);
  const reloadUsers = useApp((s) => s.loadUsers);
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const close = () => setDialog(null);

  // changes made with the CLI send no event: take a fresh copy whenever the page opens
  useEffect(() => {
    void reload();
    void reloadUsers();
  }, [reload, reloadUsers]);

  return (
    <div className="page-stack rules-page">
      <div className="page-head page-head-row">
        <div>
          <h1>Rules</h1>
          <p className="muted">Who may use the proxies, for which sites, and when.</p>
        </div>
        <button type="button" className="btn btn-primary" onClick={() => setDialog({ kind: 'edit', rule: null })}>
          Add rule
        </button>
      </div>

      {error && <ErrorCallout title="Could not load the rules" error={error} onDismiss={() => void reload()} />}
      {actionError && <ErrorCallout title="The change was not saved" error={actionError} onDismiss={dismiss} />}

      <div className="rules-layout">
        <section className="card rules-card" aria-labelledby="rules-title">
          <div className="card-head">
            <h2 id="rules-title">Rules, in order</h2>
          </div>
          <ul className="rules-explain">
            <li>
              <b>First match wins.</b> Each new request is checked from the top; the first rule that matches it decides,
              and the rest are skipped.
            </li>
            <li>
              <b>Changes apply at once</b> to new connections. Connections already open keep running: end them under{' '}
              <a href="#conns-title" className="link">
                Open connections
              </a>{' '}
              below or with <b>Disconnect now</b> on the Users page.
            </li>
          </ul>
          {!loaded ? (
            <p className="muted">Loading rules…</p>
          ) : (
            <ol className="rule-list" data-testid="rule-list">
              {rules.map((r, i) => (
                <RuleRow key={r.id} rules={rules} index={i} onDialog={setDialog} />
              ))}
              {rules.length === 0 && (
                <li className="rule rule-empty muted">No rules yet: the default action below decides every request.</li>
              )}
            </ol>
          )}
          <DefaultRow />
        </section>
        <aside className="rules-side">
          <RuleTester />
          <RoutesSummary />
        </aside>
        <div className="rules-conns">
          <LiveConnections />
        </div>
      </div>

      {dialog?.kind === 'edit' && <RuleEditor rule={dialog.rule} onClose={close} />}
      {dialog?.kind === 'delete' && <DeleteRuleDialog rule={dialog.rule} onClose={close} />}
    </div>
  );
}
