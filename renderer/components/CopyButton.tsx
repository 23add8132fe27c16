/** Copies a text and says so for a moment. */
import { useEffect, useState } from 'react';
import { copyText } from '../clipboard.js';

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = setTimeout(() => setState('idle'), 1800);
    return () => clearTimeout(t);
  }, [state]);
  return (
    <button
      type="button"
      className={`btn btn-small copy-btn is-${state}`}
      aria-label={label}
      title={`Copy ${text}`}
      onClick={() => void copyText(text).then((ok) => setState(ok ? 'copied' : 'failed'))}
    >
      {state === 'copied' ? '✓ Copied' : state === 'failed' ? 'Select and copy' : 'Copy'}
    </button>
  );
}
