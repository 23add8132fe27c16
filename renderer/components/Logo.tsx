/** The Gatehouse mark: an arched gate. Inline SVG, so no asset request and no CSP exception. */
export function Logo({ size = 28 }: { size?: number }) {
  return (
    <svg className="logo" width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" focusable="false">
      <rect x="1" y="1" width="30" height="30" rx="8" fill="currentColor" />
      <path d="M9 25V14a7 7 0 0 1 14 0v11" fill="none" stroke="#fff" strokeWidth="2.6" strokeLinecap="round" />
      <path d="M13 25v-8M19 25v-8M9 19.5h14" fill="none" stroke="#fff" strokeWidth="2" strokeLinecap="round" />
    </svg>
  );
}
