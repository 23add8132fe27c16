/**
 * HTTP/1.1 message framing for the proxy (RFC 9112), sans-IO: bytes in,
 * "need more", a parsed head plus where it ended, or an error with the status
 * to answer. No sockets here; the proxy (proxy.ts) moves the bytes.
 *
 *   HTTP-message   = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]
 *   request-line   = method SP request-target SP HTTP-version
 *   status-line    = HTTP-version SP status-code SP [ reason-phrase ]
 *   field-line     = field-name ":" OWS field-value OWS
 *
 * Bodies are framed by `BodyFramer`: Content-Length, chunked (RFC 9112 §7.1)
 * or, for responses only, until the connection closes. Chunked bodies are
 * scanned in place and passed on unchanged (or decoded, for HTTP/1.0 peers),
 * so their framing is read strictly (CRLF only, no control characters in
 * extensions or trailers): a body the next hop could frame differently is
 * refused rather than passed on (request smuggling).
 */

export interface RequestHead {
  method: string;
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 (and later 1.x) */
  minor: number;
  /** field names and values, alternating, as received (names keep their case) */
  raw: string[];
  /** bytes of the head including the blank line (and any empty lines before it) */
  size: number;
}

export interface ResponseHead {
  status: number;
  reason: string;
  minor: number;
  raw: string[];
  size: number;
}

export type HeadResult<T> = { kind: 'more' } | { kind: 'head'; head: T } | { kind: 'error'; status: number; reason: string };

export interface HeadLimits {
  /** bytes of the whole head */
  maxHeaderSize: number;
  /** characters of the request-target */
  maxUrlLength: number;
  /** field lines */
  maxFields: number;
}

const MORE = { kind: 'more' } as const;
const LF = 10;

/** RFC 9110 §5.6.2 tchar, as a lookup table over byte values. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** field-value characters in s[from, to): VCHAR, obs-text, SP and HTAB; never NUL, CR or LF (RFC 9110 §5.5) */
function validValue(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return false;
  }
  return true;
}

/** request-target characters: visible ASCII only (no SP, no controls, no obs-text) */
function validTarget(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127) return false;
  }
  return true;
}

/**
 * Finds the end of a head: the index just past the empty line. Lines end in
 * LF, optionally preceded by CR (RFC 9112 §2.2 lets a recipient accept a bare LF).
 * `skip` leading empty lines are allowed before the start line.
 * Returns -1 when the head is not complete yet.
 */
function headEnd(buf: Buffer, from: number): number {
  let lineStart = from;
  let first = true;
  for (;;) {
    const lf = buf.indexOf(LF, lineStart);
    if (lf < 0) return -1;
    const len = lf - lineStart - (lf > lineStart && buf[lf - 1] === 13 ? 1 : 0);
    if (len === 0 && !first) return lf + 1;
    if (len !== 0) first = false;
    lineStart = lf + 1;
  }
}

/**
 * A complete head (as a latin1 string) is read in place, line by line, without a string per
 * line: lines end in LF with an optional CR before it, and empty lines (before the start line,
 * and the one that ends the head) are skipped.
 */
/** The LF that ends the line starting at `from` (the head's length for its last line). */
function lfFrom(head: string, from: number): number {
  const lf = head.indexOf('\n', from);
  return lf < 0 ? head.length : lf;
}
/** Where the line from `from` to its LF at `lf` ends, without a CR before the LF. */
const endOfLine = (head: string, from: number, lf: number) => (lf > from && head.charCodeAt(lf - 1) === 13 ? lf - 1 : lf);

/** The first non-empty line (RFC 9112 §2.2: empty lines before the start line are ignored) and where the fields start. */
function startLine(head: string): { line: string; next: number } {
  for (let i = 0, lf = 0; i < head.length; i = lf + 1) {
    lf = lfFrom(head, i);
    const e = endOfLine(head, i, lf);
    if (e > i) return { line: head.slice(i, e), next: lf + 1 };
  }
  return { line: '', next: head.length };
}

const ERR = (status: number, reason: string) => ({ kind: 'error' as const, status, reason });

/**
 * OWS around a field value: SP and HTAB only (RFC 9110 §5.6.3). Not NBSP (0xA0), which
 * String.prototype.trim would drop: it is obs-text and part of the value, so "chunked\xa0" is not
 * chunked and "5\xa0" is not a length (RFC 9112 §6.1, §6.3), as for llhttp; a hop that read either
 * as such would end the message elsewhere than one that refuses it (request smuggling).
 */
const isTrimmed = (c: number) => c === 32 || c === 9;

/** `s` without OWS at either end (see isTrimmed). */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isTrimmed(s.charCodeAt(a))) a++;
  while (b > a && isTrimmed(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/** Parses the field lines from `i` into `raw`; returns an error reason or null. `fold` replaces obs-fold with SP (responses). */
function fields(head: string, i: number, raw: string[], fold: boolean, maxFields: number): string | null {
  for (let lf = 0; i < head.length; i = lf + 1) {
    lf = lfFrom(head, i);
    const e = endOfLine(head, i, lf);
    if (e === i) continue;
    const c0 = head.charCodeAt(i);
    if (c0 === 32 || c0 === 9) {
      // obs-fold (RFC 9112 §5.2): refused in requests, joined with SP in responses
      if (!fold || raw.length === 0) return 'a header line starts with whitespace (obsolete line folding)';
      if (!validValue(head, i, e)) return 'a folded header line holds control characters';
      raw[raw.length - 1] = `${raw[raw.length - 1]} ${head.slice(i, e).trim()}`;
      continue;
    }
    const colon = head.indexOf(':', i);
    if (colon <= i || colon >= e) return `a header line has no name and colon: "${head.slice(i, Math.min(e, i + 60))}"`;
    const name = head.slice(i, colon);
    // RFC 9112 §5.1: no whitespace between field name and colon
    if (!isToken(name)) return `"${name.slice(0, 60)}" is not a valid header name`;
    // checked before trimming: trim would also drop VT, FF and CR, which must be refused, not hidden
    if (!validValue(head, colon + 1, e)) return `the value of ${name} holds control characters`;
    let vs = colon + 1;
    let ve = e;
    while (vs < ve && isTrimmed(head.charCodeAt(vs))) vs++;
    while (ve > vs && isTrimmed(head.charCodeAt(ve - 1))) ve--;
    raw.push(name, head.slice(vs, ve));
    if (raw.length > maxFields * 2) return `more than ${maxFields} header lines`;
  }
  return null;
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/** /^HTTP\/\d\.\d \d{3}( [^\r]*)?$/ (the line holds no LF) */
function isStatusLine(l: string): boolean {
  if (l.length < 12 || !l.startsWith('HTTP/') || !isDigit(l.charCodeAt(5)) || l.charCodeAt(6) !== 46 || !isDigit(l.charCodeAt(7))) return false;
  if (l.charCodeAt(8) !== 32 || !isDigit(l.charCodeAt(9)) || !isDigit(l.charCodeAt(10)) || !isDigit(l.charCodeAt(11))) return false;
  if (l.length === 12) return true;
  if (l.charCodeAt(12) !== 32) return false;
  return l.indexOf('\r', 13) < 0;
}

function version(v: string): number {
  if (v === 'HTTP/1.1') return 1;
  if (v === 'HTTP/1.0') return 0;
  if (/^HTTP\/1\.\d$/.test(v)) return 1;
  return -1;
}

/** Parses a request head at the start of `buf`. */
export function parseRequestHead(buf: Buffer, limits: HeadLimits): HeadResult<RequestHead> {
  const end = headEnd(buf, 0);
  if (end < 0) {
    if (buf.length > limits.maxHeaderSize) {
      // a request line that never ends is a URL too long; otherwise the fields are too many
      const lf = buf.indexOf(LF);
      if (lf < 0 && buf.length > limits.maxUrlLength) return ERR(414, `the request line is longer than ${limits.maxUrlLength} characters`);
      return ERR(431, `the request head is larger than ${limits.maxHeaderSize} bytes`);
    }
    // the request line alone can already be judged
    const lf = buf.indexOf(LF);
    if (lf < 0 && buf.length > limits.maxUrlLength + 32) return ERR(414, `the request line is longer than ${limits.maxUrlLength} characters`);
    return MORE;
  }
  const head = buf.toString('latin1', 0, end);
  const { line: rl, next } = startLine(head);
  const sp1 = rl.indexOf(' ');
  const sp2 = rl.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 === sp1) return ERR(400, `"${rl.slice(0, 80)}" is not an HTTP request line`);
  const method = rl.slice(0, sp1);
  const target = rl.slice(sp1 + 1, sp2);
  const minor = version(rl.slice(sp2 + 1));
  if (!isToken(method)) return ERR(400, `"${method.slice(0, 40)}" is not a valid method`);
  if (minor < 0) {
    const v = rl.slice(sp2 + 1);
    return /^HTTP\/\d(\.\d)?$/.test(v) ? ERR(505, `${v.slice(0, 20)} is not supported; use HTTP/1.1`) : ERR(400, `"${rl.slice(0, 80)}" is not an HTTP request line`);
  }
  if (target.length > limits.maxUrlLength) return ERR(414, `the requested URL is ${target.length} characters; the limit is ${limits.maxUrlLength}`);
  if (!validTarget(target)) return ERR(400, 'the request target holds spaces or control characters');
  if (end > limits.maxHeaderSize) return ERR(431, `the request head is larger than ${limits.maxHeaderSize} bytes`);
  const raw: string[] = [];
  const bad = fields(head, next, raw, false, limits.maxFields);
  if (bad) return bad.startsWith('more than') ? ERR(431, bad) : ERR(400, bad);
  return { kind: 'head', head: { method, target, minor, raw, size: end } };
}

/** Parses a response head at `buf[from]`. */
export function parseResponseHead(buf: Buffer, from: number, maxHeaderSize: number): HeadResult<ResponseHead> {
  const end = headEnd(buf, from);
  if (end < 0) return buf.length - from > maxHeaderSize ? ERR(502, `the response head is larger than ${maxHeaderSize} bytes`) : MORE;
  if (end - from > maxHeaderSize) return ERR(502, `the response head is larger than ${maxHeaderSize} bytes`);
  const head = buf.toString('latin1', from, end);
  const { line: sl, next } = startLine(head);
  // status-line = HTTP-version SP 3DIGIT [ SP reason-phrase ], read without a regular expression
  if (!isStatusLine(sl)) return ERR(502, `"${sl.slice(0, 80)}" is not an HTTP status line`);
  const v = sl.slice(0, 8);
  const minor = version(v);
  if (minor < 0) return ERR(502, `the origin answered with ${v}`);
  if (sl.charCodeAt(9) === 48) return ERR(502, `"${sl.slice(9, 12)}" is not a status code`);
  const raw: string[] = [];
  const bad = fields(head, next, raw, true, 1000);
  if (bad) return ERR(502, bad);
  const status = (sl.charCodeAt(9) - 48) * 100 + (sl.charCodeAt(10) - 48) * 10 + (sl.charCodeAt(11) - 48);
  return { kind: 'head', head: { status, reason: sl.length > 12 ? sl.slice(13) : '', minor, raw, size: end - from } };
}

/** The value of a field (all lines of it joined with ", "), or undefined. `lower` must be lower case. */
export function field(raw: string[], lower: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === lower.length && n.toLowerCase() === lower) out = out === undefined ? raw[i + 1]! : `${out}, ${raw[i + 1]!}`;
  }
  return out;
}

/** Whether a comma-separated field value holds `token` (case-insensitive). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (!value) return false;
  // one token (the usual case): no list to split
  if (value.indexOf(',') < 0) return value.length === token.length ? value.toLowerCase() === token : value.trim().toLowerCase() === token;
  for (const t of value.split(',')) if (t.trim().toLowerCase() === token) return true;
  return false;
}

export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

function contentLength(raw: string[]): number | null | 'bad' {
  const v = field(raw, 'content-length');
  if (v === undefined) return null;
  // one value (the usual case); field values come trimmed
  if (v.indexOf(',') < 0) return /^\d{1,15}$/.test(v) ? Number(v) : 'bad';
  // RFC 9110 §8.6: a list of identical values may be treated as one value
  let n: number | null = null;
  for (const part of v.split(',')) {
    const p = trimOws(part);
    if (!/^\d{1,15}$/.test(p)) return 'bad';
    const x = Number(p);
    if (n !== null && n !== x) return 'bad';
    n = x;
  }
  return n;
}

/** Transfer-Encoding's final coding (RFC 9112 §6.1), lower case, or null when absent. */
function finalCoding(raw: string[]): string | null {
  const te = field(raw, 'transfer-encoding');
  if (te === undefined) return null;
  const codings = te.split(',').map((c) => trimOws(c).toLowerCase()).filter(Boolean);
  return codings[codings.length - 1] ?? '';
}

/** How a request's body is framed (RFC 9112 §6.3), or an error with the status to answer. */
export function requestFraming(h: RequestHead): Framing | { status: number; reason: string } {
  const coding = finalCoding(h.raw);
  const cl = contentLength(h.raw);
  if (coding !== null) {
    // smuggling guard: both fields, or a request body that is not chunked last, cannot be framed safely
    if (cl !== null) return { status: 400, reason: 'the request has both Transfer-Encoding and Content-Length' };
    if (h.minor === 0) return { status: 400, reason: 'HTTP/1.0 requests cannot use Transfer-Encoding' };
    if (coding !== 'chunked') return { status: 501, reason: `Transfer-Encoding "${field(h.raw, 'transfer-encoding')}" is not supported` };
    if (field(h.raw, 'transfer-encoding')!.toLowerCase().replace(/[ \t]/g, '') !== 'chunked') {
      return { status: 501, reason: `Transfer-Encoding "${field(h.raw, 'transfer-encoding')}" is not supported` };
    }
    return { kind: 'chunked' };
  }
  if (cl === 'bad') return { status: 400, reason: `Content-Length "${field(h.raw, 'content-length')!.slice(0, 40)}" is not a valid length` };
  if (cl === null || cl === 0) return { kind: 'none' };
  return { kind: 'length', length: cl };
}

/** How a response's body is framed (RFC 9112 §6.3), given the request method; null when the response is unreadable. */
export function responseFraming(h: ResponseHead, method: string): Framing | null {
  if (method === 'HEAD' || h.status < 200 || h.status === 204 || h.status === 304) return { kind: 'none' };
  const coding = finalCoding(h.raw);
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing: read until the close
  if (coding !== null) return coding === 'chunked' && h.minor === 1 ? { kind: 'chunked' } : { kind: 'close' };
  const cl = contentLength(h.raw);
  if (cl === 'bad') return null;
  if (cl === null) return { kind: 'close' };
  return cl === 0 ? { kind: 'none' } : { kind: 'length', length: cl };
}

const enum C {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  EndLf,
  Done,
}

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;

/**
 * Finds where a body ends. `take(buf, from)` returns how many bytes from
 * `from` belong to the body (the rest is the next message), or -1 with
 * `error` set when a chunked body is malformed. `done` turns true at the end.
 * A chunked body is passed on unchanged; with `decode`, `take` also calls
 * `onData` with the payload slices only (for a peer that cannot read chunks).
 */
export class BodyFramer {
  done: boolean;
  error = '';
  /** bytes of payload still expected in the current chunk, or of a Content-Length body */
  private left: number;
  private state = C.Size;
  private digits = 0;
  private lineLen = 0;
  private trailerBytes = 0;

  constructor(
    readonly framing: Framing,
    private readonly onData?: (buf: Buffer, start: number, end: number) => void,
  ) {
    this.done = framing.kind === 'none';
    this.left = framing.kind === 'length' ? framing.length : 0;
  }

  /** The connection closed: true when that ends the body properly (close-delimited). */
  eof(): boolean {
    if (this.framing.kind === 'close') this.done = true;
    return this.done;
  }

  take(buf: Buffer, from: number): number {
    if (this.done) return 0;
    const avail = buf.length - from;
    switch (this.framing.kind) {
      case 'length': {
        const n = Math.min(avail, this.left);
        this.left -= n;
        if (this.left === 0) this.done = true;
        return n;
      }
      case 'close':
        return avail;
      case 'chunked':
        return this.chunked(buf, from);
      default:
        return 0;
    }
  }

  private fail(why: string): number {
    this.error = why;
    return -1;
  }

  private chunked(buf: Buffer, from: number): number {
    let i = from;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case C.Size: {
          const c = buf[i]!;
          const h = HEX[c]!;
          if (h >= 0) {
            if (++this.digits > 13) return this.fail('a chunk size is too large');
            this.left = this.left * 16 + h;
            i++;
          } else if (this.digits === 0) {
            return this.fail('a chunk size is missing');
          } else if (c === 59 /* ; */ || c === 32 || c === 9) {
            this.state = C.Ext;
            this.lineLen = 0;
            i++;
          } else if (c === 13) {
            this.state = C.SizeLf;
            i++;
          } else if (c === LF) {
            return this.fail('a chunk size line does not end in CRLF');
          } else return this.fail('a chunk size is not hexadecimal');
          break;
        }
        case C.Ext: {
          // chunk extensions are passed on, never interpreted: visible characters, SP and HTAB up to CRLF
          const c = buf[i]!;
          if (c === 13) {
            this.state = C.SizeLf;
          } else if ((c < 32 && c !== 9) || c === 127) {
            return this.fail('a chunk extension holds control characters');
          } else if (++this.lineLen > MAX_CHUNK_LINE) {
            return this.fail('a chunk extension is too long');
          }
          i++;
          break;
        }
        case C.SizeLf:
          if (buf[i] !== LF) return this.fail('a chunk size line does not end in CRLF');
          i++;
          this.afterSize();
          break;
        case C.Data: {
          const k = Math.min(n - i, this.left);
          if (this.onData && k > 0) this.onData(buf, i, i + k);
          this.left -= k;
          i += k;
          if (this.left === 0) this.state = C.DataCr;
          break;
        }
        case C.DataCr:
          if (buf[i] !== 13) return this.fail('chunk data is not followed by CRLF');
          this.state = C.DataLf;
          i++;
          break;
        case C.DataLf:
          if (buf[i] !== LF) return this.fail('chunk data is not followed by CRLF');
          this.state = C.Size;
          this.digits = 0;
          i++;
          break;
        case C.TrailerStart: {
          const c = buf[i]!;
          if (c === 13) {
            this.state = C.EndLf;
            i++;
          } else {
            this.state = C.Trailer;
          }
          break;
        }
        case C.Trailer: {
          // trailer field lines, passed on: CR only as part of CRLF, no other controls but HTAB
          const c = buf[i]!;
          if (++this.trailerBytes > MAX_TRAILERS) return this.fail('the trailer section is too large');
          if (c === 13) this.state = C.TrailerLf;
          else if ((c < 32 && c !== 9) || c === 127) return this.fail('a trailer field holds control characters');
          i++;
          break;
        }
        case C.TrailerLf:
          if (buf[i] !== LF) return this.fail('a trailer line does not end in CRLF');
          this.state = C.TrailerStart;
          i++;
          break;
        case C.EndLf:
          if (buf[i] !== LF) return this.fail('the chunked body does not end in CRLF');
          i++;
          this.state = C.Done;
          this.done = true;
          return i - from;
        default:
          return i - from;
      }
    }
    return i - from;
  }

  private afterSize(): void {
    if (this.left === 0) {
      this.state = C.TrailerStart;
    } else {
      this.state = C.Data;
    }
  }
}
