/** Port lists such as "443,563,8443-8444": parsing, matching, canonical text. */

export type PortRange = readonly [number, number];

export function parsePortList(text: string, opts: { allowZero?: boolean } = {}): PortRange[] {
  const min = opts.allowZero ? 0 : 1;
  const out: PortRange[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    const part = raw.trim();
    if (!part) continue;
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not a port or a port range like 8443-8444`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (const p of [lo, hi]) if (p < min || p > 65535) throw new Error(`port ${p} in "${part}" is outside ${min}-65535`);
    if (hi < lo) throw new Error(`port range "${part}" is reversed`);
    out.push([lo, hi]);
  }
  out.sort((a, b) => a[0] - b[0]);
  return out;
}

export function formatPortList(ranges: readonly PortRange[]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',');
}

export function portInList(port: number, ranges: readonly PortRange[]): boolean {
  for (const [lo, hi] of ranges) if (port >= lo && port <= hi) return true;
  return false;
}
