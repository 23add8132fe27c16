/**
 * Export formats (main/storage/log-export.ts): CSV parses back (csv-parse) to
 * the same rows, quoting commas, quotes and line breaks and defusing
 * spreadsheet formulas; JSON lines parse to the rows; HAR validates against the
 * HAR 1.2 schemas and leaves out rows that are not HTTP requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import type { LogRow } from '../../main/contract/index.js';
import { CSV_COLUMNS, csvField, exportWriter, harEntry } from '../../main/storage/log-export.js';
import { rowGenerator } from '../helpers/log-rows.js';
import { harErrors } from '../helpers/har.js';

const gen = rowGenerator({ seed: 3 });
const rows: LogRow[] = Array.from({ length: 300 }, (_, i) => ({ ...gen(), id: i + 1 }));
rows.push({
  ...gen(),
  id: 301,
  service: 'http',
  method: 'GET',
  user: '=HYPERLINK("http://evil")',
  url: 'http://example.com/a,b?q="quoted"&x=1',
  host: 'example.com',
  error: 'line one\r\nline two',
  rule: '+rule, with comma',
});

function writeAll(format: 'csv' | 'jsonl' | 'har', list: LogRow[], pageSize = 64): { text: string; skipped: number } {
  const w = exportWriter(format, '9.9.9');
  let text = w.head();
  let skipped = 0;
  for (let i = 0; i < list.length; i += pageSize) {
    const r = w.rows(list.slice(i, i + pageSize));
    text += r.text;
    skipped += r.skipped;
  }
  return { text: text + w.tail(), skipped };
}

test('CSV parses back to the rows, one record per row under the header', () => {
  const { text } = writeAll('csv', rows);
  assert.ok(text.endsWith('\r\n'));
  const records = parse(text, { columns: true, relax_quotes: false }) as Array<Record<string, string>>;
  assert.deepEqual(Object.keys(records[0]!), [...CSV_COLUMNS]);
  assert.equal(records.length, rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const c = records[i]!;
    assert.equal(Number(c.id), r.id);
    assert.equal(Number(c.ts), r.ts);
    assert.equal(c.time, new Date(r.ts).toISOString());
    assert.equal(c.url, r.url);
    assert.equal(c.client, r.clientAddr);
    assert.equal(c.allowed, String(r.allowed));
    assert.equal(Number(c.bytes_down), r.bytesDown);
    assert.equal(Number(c.packets_up), r.packetsUp);
    assert.equal(Number(c.duration_ms), r.durationMs);
    assert.equal(c.error, r.error);
  }
  const evil = records[records.length - 1]!;
  assert.equal(evil.user, `'=HYPERLINK("http://evil")`, 'a formula is defused with an apostrophe');
  assert.equal(evil.rule, "'+rule, with comma");
  assert.equal(evil.error, 'line one\r\nline two');
});

test('the CSV header is the id, the time, then the fields in the order of LOG_FIELDS', () => {
  // pinned as text: reordering LOG_FIELDS changes what spreadsheets and scripts read
  assert.equal(
    exportWriter('csv').head(),
    'id,time,ts,service,client,client_port,user,method,url,host,port,status,allowed,rule,bytes_up,bytes_down,packets_up,packets_down,duration_ms,error,chain,mapping\r\n',
  );
});

test('csvField quotes only what needs it', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField(12), '12');
  assert.equal(csvField(-3), '-3', 'numbers are never defused');
  assert.equal(csvField('a"b'), '"a""b"');
  assert.equal(csvField('-1'), "'-1");
});

test('JSON lines: one row object per line', () => {
  const { text } = writeAll('jsonl', rows);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, rows.length);
  assert.deepEqual(lines.map((l) => JSON.parse(l)), rows);
});

test('HAR validates against HAR 1.2 and holds only the HTTP requests', () => {
  const { text, skipped } = writeAll('har', rows);
  const doc = JSON.parse(text) as { log: { version: string; creator: { name: string; version: string }; entries: Array<{ request: { url: string; method: string; queryString: unknown[] }; response: { status: number }; startedDateTime: string; time: number }> } };
  assert.deepEqual(harErrors(doc), []);
  assert.equal(doc.log.version, '1.2');
  assert.deepEqual(doc.log.creator, { name: 'Gatehouse', version: '9.9.9' });
  const http = rows.filter((r) => r.service === 'http' && r.method !== 'CONNECT');
  assert.ok(http.length > 50 && skipped > 20);
  assert.equal(doc.log.entries.length, http.length);
  assert.equal(skipped, rows.length - http.length);
  const last = doc.log.entries[doc.log.entries.length - 1]!;
  assert.equal(last.request.url, 'http://example.com/a,b?q="quoted"&x=1');
  assert.deepEqual(last.request.queryString, [
    { name: 'q', value: '"quoted"' },
    { name: 'x', value: '1' },
  ]);
  assert.equal(last.startedDateTime, new Date(rows[rows.length - 1]!.ts).toISOString());
});

test('an empty HAR export is still a valid HAR', () => {
  const { text } = writeAll('har', []);
  assert.deepEqual(harErrors(JSON.parse(text)), []);
  // and the validator does catch a broken one
  assert.notDeepEqual(harErrors({ log: { version: '1.2', entries: [{}] } }), []);
  assert.equal(harEntry({ ...rows[0]!, service: 'socks' }), null);
});
