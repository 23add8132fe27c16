/** "Remove X?": one confirm dialog for a mapping, a chain or a route; a refusal shows beside the buttons. */
import { useState, type ReactNode } from 'react';
import type { Outcome } from '../../store/users.js';
import { Modal, ModalFooter } from '../Modal.js';

export function ConfirmRemove({
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
  testId,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<Outcome>;
  onClose: () => void;
  testId?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal title={title} onClose={onClose} size="small" testId={testId}>
      <form
        className="modal-form"
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          void onConfirm().then((r) => {
            setBusy(false);
            if (r.ok) onClose();
            else setError(`${r.error.message} ${r.error.code === 'E_VALIDATION' ? '' : r.error.hint}`.trim());
          });
        }}
      >
        <div className="modal-body">{children}</div>
        <ModalFooter error={error}>
          <button type="button" className="btn" onClick={onClose} autoFocus>
            Cancel
          </button>
          <button type="submit" className="btn btn-danger" disabled={busy}>
            {busy ? 'Removing…' : confirmLabel}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}
