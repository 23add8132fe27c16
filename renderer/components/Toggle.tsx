/** A small on/off switch for a list row (the large one is the sharing switch). */
export function Toggle({
  checked,
  label,
  onChange,
  disabled,
  testId,
}: {
  checked: boolean;
  /** what is switched, for screen readers and the tooltip */
  label: string;
  onChange: (next: boolean) => void;
  disabled?: boolean;
  testId?: string;
}) {
  return (
    <button
      type="button"
      role="switch"
      aria-checked={checked}
      aria-label={label}
      title={label}
      disabled={disabled}
      data-testid={testId}
      className={`toggle ${checked ? 'is-on' : ''}`}
      onClick={() => onChange(!checked)}
    >
      <span className="toggle-thumb" aria-hidden="true" />
    </button>
  );
}
