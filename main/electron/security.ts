/**
 * What the Electron window is allowed to load, run and navigate to, as plain
 * data and functions (no `electron` import, so it is unit-tested under Node).
 *
 * The renderer is served from a custom scheme, app://gatehouse/, instead of
 * file://: the page gets a real origin of its own ('self' in the CSP means
 * exactly our bundle, not every file on disk), the IPC trust check can compare
 * against that origin, and the packaged app can switch off Electron's extra
 * file:// privileges (the grantFileProtocolExtraPrivileges fuse).
 */
import path from 'node:path';

export const APP_SCHEME = 'app';
export const APP_HOST = 'gatehouse';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * Sent as a response header with every file of the renderer. Mirrors the
 * renderer's <meta> policy and adds what only a header (frame-ancestors) or a
 * stricter app can say: no plugins, no <base>, no form posts, no frames.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** True for URLs of our own renderer (app://gatehouse/…), false for anything else. */
export function isAppUrl(url: string): boolean {
  const u = parse(url);
  return u !== null && u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.username === '' && u.password === '';
}

export type NavigationDecision = 'allow' | 'external' | 'deny';

/**
 * What to do when the page tries to go to `url` (link, window.open, location
 * change): stay only inside our own renderer; hand http(s) links to the
 * system browser; refuse everything else (file:, javascript:, custom schemes).
 */
export function navigationDecision(url: string): NavigationDecision {
  if (isAppUrl(url)) return 'allow';
  const u = parse(url);
  if (u && (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '') return 'external';
  return 'deny';
}

/**
 * Which requests the window's session lets through: our renderer, inline
 * data/blob URLs and the developer tools. Everything else (http, ws, file…)
 * is cancelled, so even a page that slipped past the CSP reaches neither the
 * network nor the disk; the gateway itself runs in Node and is not affected.
 */
export function isAllowedRequest(url: string): boolean {
  if (isAppUrl(url)) return true;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  return scheme === 'data' || scheme === 'blob' || scheme === 'devtools';
}

/** Browser permissions the page may use: writing the clipboard (the "copy" buttons), nothing else. */
const ALLOWED_PERMISSIONS = new Set(['clipboard-sanitized-write']);

export function isPermissionAllowed(permission: string, requestingUrl: string): boolean {
  return ALLOWED_PERMISSIONS.has(permission) && isAppUrl(requestingUrl);
}

/**
 * Maps a request for app://gatehouse/<path> to a file under `rootDir`, or null
 * when the URL is not ours or would leave `rootDir` (dot segments, encoded
 * slashes, NUL bytes).
 */
export function resolveAppFile(rootDir: string, url: string): string | null {
  if (!isAppUrl(url)) return null;
  const u = parse(url)!;
  let rel: string;
  try {
    rel = decodeURIComponent(u.pathname);
  } catch {
    return null; // malformed %-escape
  }
  if (rel.includes('\0') || rel.includes('\\')) return null;
  if (rel === '/' || rel === '') rel = '/index.html';
  const root = path.resolve(rootDir);
  const file = path.resolve(root, `.${rel}`);
  return file.startsWith(root + path.sep) ? file : null;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Content-Type for a renderer file; module scripts are refused without a JavaScript type. */
export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Headers sent with every renderer file. */
export function responseHeaders(file: string): Record<string, string> {
  return {
    'Content-Type': contentTypeFor(file),
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
  };
}

function parse(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}
