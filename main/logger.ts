/**
 * Diagnostic logging: structured fields, named per area, written as one line
 * each to stderr (JSON with --json). Never given a password or token.
 */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(area: string): Logger;
}

export function createLogger(opts: { json?: boolean; quiet?: boolean; area?: string } = {}): Logger {
  const write = (level: string, msg: string, fields?: Record<string, unknown>) => {
    if (opts.quiet && level === 'info') return;
    if (opts.json) {
      process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, area: opts.area ?? 'gatehouse', msg, ...fields }) + '\n');
    } else {
      const extra = fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : '';
      process.stderr.write(`${level === 'info' ? '' : level + ': '}[${opts.area ?? 'gatehouse'}] ${msg}${extra}\n`);
    }
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (area) => createLogger({ ...opts, area }),
  };
}

export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
