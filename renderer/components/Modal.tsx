/**
 * A modal dialog on the native <dialog> element: focus stays inside, Esc and
 * the × button call onClose, the page behind is inert. Mount it to open it.
 */
import { useEffect, useId, useRef, type ReactNode } from 'react';

export function Modal({
  title,
  subtitle,
  onClose,
  children,
  size = 'normal',
  testId,
}: {
  title: string;
  subtitle?: ReactNode;
  onClose: () => void;
  children: ReactNode;
  size?: 'small' | 'normal' | 'wide';
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className={`modal modal-${size}`}
      aria-labelledby={`${id}-title`}
      data-testid={testId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <div className="modal-head">
        <div>
          <h2 id={`${id}-title`}>{title}</h2>
          {subtitle && <p className="muted small modal-subtitle">{subtitle}</p>}
        </div>
        <button type="button" className="btn btn-ghost modal-close" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </div>
      {children}
    </dialog>
  );
}

/** The bottom of a dialog form: the server's message (if any) beside the buttons. */
export function ModalFooter({ error, children }: { error?: ReactNode; children: ReactNode }) {
  return (
    <div className="modal-foot">
      {error ? (
        <div className="modal-error" role="alert">
          {error}
        </div>
      ) : (
        <span />
      )}
      <div className="modal-buttons">{children}</div>
    </div>
  );
}
