/**
 * An EventSource for Node, which has fetch but no EventSource (Node 20), on
 * node's http client: the part of the WHATWG interface that
 * renderer/api/transport.ts uses (readyState, onopen, onmessage, onerror,
 * close), with a browser's rules for the stream and for reconnecting
 * (HTML Living Standard §9.2 "Server-sent events"):
 *  - a dropped stream, or a connection that cannot be made, is retried after
 *    the reconnection time (the server's `retry:` field), readyState CONNECTING;
 *  - an answer other than 200 text/event-stream fails it for good (CLOSED).
 * A browser sends the page's cookies with the stream; here the caller's
 * `headers()` are sent instead (the admin cookie), read at every (re)connect.
 * Owns its request and its reconnect timer; close() clears both.
 */
import http from 'node:http';
import type { HttpTransportOptions } from '../../renderer/api/transport.js';

type EventSourceCtor = NonNullable<HttpTransportOptions['EventSource']>;

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/** Browsers pick their own first reconnection time; a few seconds is usual. */
const DEFAULT_RETRY_MS = 3000;

export interface NodeEventSources {
  /** pass as createHttpTransport({ EventSource }) */
  EventSource: EventSourceCtor;
  /** the sources not closed yet (by close() or a failed connection) */
  readonly live: ReadonlySet<{ readonly url: string; readonly readyState: number }>;
  /** how many were ever made */
  readonly created: number;
  /** closes every live source (cleanup) */
  closeAll(): void;
}

export function nodeEventSources(opts: { headers?: () => Record<string, string> } = {}): NodeEventSources {
  const live = new Set<NodeEventSource>();
  let created = 0;

  class NodeEventSource {
    readyState = CONNECTING;
    onopen: ((ev: Event) => unknown) | null = null;
    onmessage: ((ev: MessageEvent) => unknown) | null = null;
    onerror: ((ev: Event) => unknown) | null = null;
    private req: http.ClientRequest | null = null;
    private timer: NodeJS.Timeout | null = null;
    private retryMs = DEFAULT_RETRY_MS;
    private lastEventId = '';
    // the parser's state (§9.2.6): the unfinished line, and the event being read
    private pending = '';
    private data = '';
    private type = '';
    private first = true;

    constructor(readonly url: string) {
      created++;
      live.add(this);
      this.connect();
    }

    close(): void {
      this.readyState = CLOSED;
      live.delete(this);
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      const req = this.req;
      this.req = null;
      req?.destroy();
    }

    private connect(): void {
      const headers: Record<string, string> = { Accept: 'text/event-stream', 'Cache-Control': 'no-store', ...opts.headers?.() };
      if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
      const req = http.get(this.url, { headers, agent: false });
      this.req = req;
      req.on('error', () => this.lost(req));
      req.on('response', (res) => {
        if (this.req !== req) return void res.destroy();
        if (res.statusCode !== 200 || !/^text\/event-stream\b/i.test(res.headers['content-type'] ?? '')) {
          // "fail the connection": no reconnection after an HTTP error or a wrong type
          res.resume();
          this.req = null;
          req.destroy();
          this.readyState = CLOSED;
          live.delete(this);
          this.onerror?.(new Event('error'));
          return;
        }
        this.readyState = OPEN;
        this.pending = '';
        this.data = '';
        this.type = '';
        this.first = true;
        this.onopen?.(new Event('open'));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.req === req && this.feed(chunk));
        res.on('close', () => this.lost(req));
        res.on('error', () => this.lost(req));
      });
    }

    /** "reestablish the connection": CONNECTING, an error event, then a new request after the reconnection time */
    private lost(req: http.ClientRequest): void {
      if (this.req !== req || this.readyState === CLOSED) return;
      this.req = null;
      req.destroy();
      this.readyState = CONNECTING;
      this.onerror?.(new Event('error'));
      if (this.readyState !== CONNECTING) return; // closed by the error handler
      this.timer = setTimeout(() => {
        this.timer = null;
        if (this.readyState === CONNECTING) this.connect();
      }, this.retryMs);
    }

    /** Lines end in CRLF, LF or CR (§9.2.5); a CR at the end of a chunk may be half of a CRLF. */
    private feed(chunk: string): void {
      let text = this.pending + chunk;
      if (this.first && text.length > 0) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        this.first = false;
      }
      let start = 0;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (c !== '\n' && c !== '\r') continue;
        if (c === '\r' && i === text.length - 1) break;
        this.line(text.slice(start, i));
        if (c === '\r' && text[i + 1] === '\n') i++;
        start = i + 1;
      }
      this.pending = text.slice(start);
    }

    /** §9.2.6 "Interpreting an event stream" */
    private line(line: string): void {
      if (line === '') return this.dispatch();
      if (line.startsWith(':')) return; // a comment (the server's keep-alive)
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      switch (field) {
        case 'data':
          this.data += `${value}\n`;
          break;
        case 'event':
          this.type = value;
          break;
        case 'id':
          if (!value.includes('\0')) this.lastEventId = value;
          break;
        case 'retry':
          if (/^\d+$/.test(value)) this.retryMs = Number(value);
          break;
      }
    }

    private dispatch(): void {
      const data = this.data;
      const type = this.type || 'message';
      this.data = '';
      this.type = '';
      if (data === '') return;
      // named events go to addEventListener(type), which the transport does not use
      if (type !== 'message') return;
      this.onmessage?.(new MessageEvent('message', { data: data.slice(0, -1), lastEventId: this.lastEventId, origin: new URL(this.url).origin }));
    }
  }

  return {
    EventSource: NodeEventSource,
    live,
    get created() {
      return created;
    },
    closeAll() {
      for (const s of [...live]) s.close();
    },
  };
}
