/** An error with what to do next, and optionally a button that goes there. */
import type { UiError } from '../store/errors.js';
import { useApp } from '../store/hooks.js';

export function ErrorCallout({ title, error, onDismiss }: { title: string; error: UiError; onDismiss?: () => void }) {
  const setView = useApp((s) => s.setView);
  return (
    <div className="callout callout-error" role="alert">
      <div className="callout-body">
        <strong className="callout-title">{title}</strong>
        <p className="callout-message">{error.message}</p>
        <p className="callout-hint">{error.hint}</p>
      </div>
      <div className="callout-actions">
        {error.action && (
          <button type="button" className="btn btn-primary" onClick={() => setView(error.action!.view, error.action!.focusKey)}>
            {error.action.label}
          </button>
        )}
        {onDismiss && (
          <button type="button" className="btn btn-ghost" onClick={onDismiss}>
            Dismiss
          </button>
        )}
      </div>
    </div>
  );
}
