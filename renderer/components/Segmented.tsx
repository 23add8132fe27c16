/** A choice of a few options shown side by side (a radio group styled as one control). */
import { useId } from 'react';

export interface SegmentOption<T extends string> {
  value: T;
  label: string;
  title?: string;
}

export function Segmented<T extends string>({
  value,
  options,
  onChange,
  label,
  disabled,
  tone,
  testId,
}: {
  value: T | null;
  options: ReadonlyArray<SegmentOption<T>>;
  onChange: (v: T) => void;
  /** names the group for screen readers */
  label: string;
  disabled?: boolean;
  /** colours the chosen option by its value (allow green, deny red) */
  tone?: (v: T) => string | undefined;
  testId?: string;
}) {
  const name = useId();
  return (
    <div className="segmented" role="radiogroup" aria-label={label} data-testid={testId}>
      {options.map((o) => {
        const checked = o.value === value;
        return (
          <label key={o.value} className={`segment ${checked ? 'is-checked' : ''} ${checked && tone ? tone(o.value) ?? '' : ''}`} title={o.title}>
            <input
              type="radio"
              name={name}
              value={o.value}
              checked={checked}
              disabled={disabled}
              onChange={() => onChange(o.value)}
            />
            {o.label}
          </label>
        );
      })}
    </div>
  );
}
