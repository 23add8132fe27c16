/**
 * Rules slice: the ordered access rules and the default action, the changes
 * made from the list (move, enable, delete, default), the rule editor's saves,
 * and the "Would this be allowed?" tester, whose answer names the rule that
 * decided (the list highlights it). Reloaded on `rules` events; a tester
 * answer given before the rules changed is marked stale rather than dropped.
 */
import type { DecisionWithRoute, Input, Rule, RuleInput } from '../../main/contract/index.js';
import { toUiError, type UiError } from './errors.js';
import type { AppState, SliceDeps } from './types.js';
import type { Outcome } from './users.js';

export type RuleAction = 'allow' | 'deny';
export type RuleTestInput = Input<'rules.test'>;

export interface RuleTestState {
  pending: boolean;
  input: RuleTestInput | null;
  /** the decision, and for an allowed request the route it would take */
  result: DecisionWithRoute | null;
  error: UiError | null;
  /** the rules (or the routes) changed after this answer was given */
  stale: boolean;
  /** the rules, default action, routes and chains the answer was given for */
  basis: string;
}

export interface RulesSlice {
  rules: Rule[];
  defaultAction: RuleAction | null;
  rulesLoaded: boolean;
  rulesError: UiError | null;
  /** a change made from the list is being saved */
  rulesBusy: boolean;
  /** why the last change made from the list failed */
  rulesActionError: UiError | null;
  ruleTest: RuleTestState;
  loadRules(): Promise<void>;
  /** adds a rule at `position` (0 = first; last when left out) */
  addRule(rule: RuleInput, position?: number): Promise<Outcome>;
  updateRule(id: number, rule: Partial<RuleInput>): Promise<Outcome>;
  setRuleEnabled(id: number, enabled: boolean): Promise<void>;
  moveRule(id: number, position: number): Promise<void>;
  removeRule(id: number): Promise<Outcome>;
  setDefaultAction(action: RuleAction): Promise<void>;
  dismissRulesError(): void;
  testRule(input: RuleTestInput): Promise<void>;
  clearRuleTest(): void;
}

const NO_TEST: RuleTestState = { pending: false, input: null, result: null, error: null, stale: false, basis: '' };

/** what a tester answer depends on: the rules, the default action, and the routes and chains it names */
export const testBasis = (s: Pick<AppState, 'rules' | 'defaultAction' | 'routes' | 'chains'>) => JSON.stringify([s.rules, s.defaultAction, s.routes, s.chains]);

/** What changed since a stale answer: the rules (or the default action), or only the routes and chains. */
export function staleCause(s: Pick<AppState, 'rules' | 'defaultAction' | 'ruleTest'>): 'rules' | 'routes' {
  const [rules, defaultAction] = JSON.parse(s.ruleTest.basis || '[]') as [unknown, unknown];
  return JSON.stringify([rules, defaultAction]) === JSON.stringify([s.rules, s.defaultAction]) ? 'routes' : 'rules';
}

export function createRulesSlice({ set, get, call }: SliceDeps): RulesSlice {
  /** a change from the list: one at a time, the list reloaded afterwards either way */
  const listChange = async (run: () => Promise<unknown>): Promise<Outcome> => {
    set({ rulesBusy: true, rulesActionError: null });
    try {
      await run();
      return { ok: true };
    } catch (e) {
      const error = toUiError(e);
      set({ rulesActionError: error });
      return { ok: false, error };
    } finally {
      await get().loadRules();
      set({ rulesBusy: false });
    }
  };

  return {
    rules: [],
    defaultAction: null,
    rulesLoaded: false,
    rulesError: null,
    rulesBusy: false,
    rulesActionError: null,
    ruleTest: NO_TEST,

    async loadRules() {
      try {
        const { rules, defaultAction } = await call('rules.list', {});
        const t = get().ruleTest;
        const stale = t.result !== null && testBasis({ ...get(), rules, defaultAction }) !== t.basis;
        set({
          rules,
          defaultAction,
          rulesLoaded: true,
          rulesError: null,
          ruleTest: stale === t.stale ? t : { ...t, stale },
        });
      } catch (e) {
        set({ rulesLoaded: true, rulesError: toUiError(e) });
      }
    },

    async addRule(rule, position) {
      try {
        await call('rules.add', position === undefined ? { rule } : { rule, position });
      } catch (e) {
        return { ok: false, error: toUiError(e) };
      }
      await get().loadRules();
      return { ok: true };
    },

    async updateRule(id, rule) {
      try {
        await call('rules.update', { id, rule });
      } catch (e) {
        return { ok: false, error: toUiError(e) };
      }
      await get().loadRules();
      return { ok: true };
    },

    async setRuleEnabled(id, enabled) {
      if (get().rulesBusy) return;
      set({ rules: get().rules.map((r) => (r.id === id ? { ...r, enabled } : r)) });
      await listChange(() => call('rules.update', { id, rule: { enabled } }));
    },

    async moveRule(id, position) {
      if (get().rulesBusy) return;
      const rules = [...get().rules];
      const from = rules.findIndex((r) => r.id === id);
      if (from < 0 || position < 0 || position >= rules.length || position === from) return;
      // show the new order at once; the server's order replaces it
      const [moved] = rules.splice(from, 1);
      rules.splice(position, 0, moved!);
      set({ rules });
      await listChange(async () => {
        const order = await call('rules.move', { id, position });
        set({ rules: order });
      });
    },

    removeRule: (id) => listChange(() => call('rules.remove', { id })),

    async setDefaultAction(action) {
      if (get().rulesBusy || get().defaultAction === action) return;
      const before = get().defaultAction;
      set({ defaultAction: action });
      const r = await listChange(() => call('rules.setDefault', { action }));
      if (!r.ok && get().defaultAction === action) set({ defaultAction: before });
    },

    dismissRulesError: () => set({ rulesActionError: null }),

    async testRule(input) {
      set({ ruleTest: { ...get().ruleTest, pending: true, input, error: null } });
      try {
        const result = await call('rules.test', input);
        const basis = testBasis(get());
        set({ ruleTest: { pending: false, input, result, error: null, stale: false, basis } });
      } catch (e) {
        set({ ruleTest: { ...NO_TEST, input, error: toUiError(e) } });
      }
    },

    clearRuleTest: () => set({ ruleTest: NO_TEST }),
  };
}
