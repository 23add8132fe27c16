/**
 * The settings contract (main/contract/settings.ts): every key's default is
 * valid, values are checked and made canonical, and every refusal is an
 * E_VALIDATION error that names the key and quotes the bad value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_SETTINGS,
  GatehouseError,
  SETTING_INFO,
  SETTING_KEYS,
  SettingsSchema,
  formatSetting,
  isSettingKey,
  parseSettingText,
  validateSetting,
  type SettingKey,
} from '../../main/contract/index.js';

/** Asserts that fn throws E_VALIDATION whose message names the key and contains every quoted part. */
function refuses(fn: () => unknown, key: string, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof GatehouseError, `expected a GatehouseError, got ${String(e)}`);
    assert.equal(e.code, 'E_VALIDATION');
    assert.ok(e.message.startsWith(`setting ${key}: `), `"${e.message}" should name ${key}`);
    for (const p of parts) assert.ok(e.message.includes(p), `"${e.message}" should include ${p}`);
    return true;
  });
}

test('every key has a default that passes its own validation unchanged', () => {
  assert.deepEqual(SettingsSchema.parse(DEFAULT_SETTINGS), DEFAULT_SETTINGS);
  for (const key of SETTING_KEYS) assert.deepEqual(validateSetting(key, DEFAULT_SETTINGS[key]), DEFAULT_SETTINGS[key], key);
});

test('every key is described with a description and an example', () => {
  assert.deepEqual(Object.keys(SETTING_INFO).sort(), [...SETTING_KEYS].sort());
  for (const key of SETTING_KEYS) {
    assert.ok(SETTING_INFO[key].description.length > 10, key);
    assert.ok(SETTING_INFO[key].example.length > 0, key);
  }
});

test('knows its keys and nothing inherited from Object', () => {
  assert.equal(isSettingKey('http.port'), true);
  for (const k of ['nope', 'toString', '__proto__', 'constructor', 'HTTP.PORT', '']) assert.equal(isSettingKey(k), false, k);
});

test('the default of every key survives formatting as text and parsing back', () => {
  for (const key of SETTING_KEYS) {
    assert.deepEqual(parseSettingText(key, formatSetting(DEFAULT_SETTINGS[key])), DEFAULT_SETTINGS[key], key);
  }
});

test('canonicalizes a port list: sorted, no spaces', () => {
  assert.equal(validateSetting('http.connectPorts', ' 8443-8444, 443 '), '443,8443-8444');
  assert.equal(parseSettingText('http.connectPorts', '563 443'), '443,563');
});

test('refuses a reversed port range naming http.connectPorts and quoting the range', () => {
  refuses(() => validateSetting('http.connectPorts', '443,90-80'), 'http.connectPorts', '"90-80"', 'reversed');
  refuses(() => parseSettingText('http.connectPorts', '90-80'), 'http.connectPorts', '"90-80"', 'reversed');
});

test('refuses port 0, garbage and an empty list for http.connectPorts', () => {
  refuses(() => validateSetting('http.connectPorts', '0'), 'http.connectPorts', '"0"');
  refuses(() => validateSetting('http.connectPorts', '443,https'), 'http.connectPorts', '"https"');
  refuses(() => validateSetting('http.connectPorts', ' '), 'http.connectPorts', 'at least one port');
});

test('refuses a value of the wrong type, quoting it as JSON', () => {
  refuses(() => validateSetting('http.port', '8080'), 'http.port', '"8080"');
  refuses(() => validateSetting('sharing.enabled', 'yes'), 'sharing.enabled', '"yes"');
  refuses(() => validateSetting('listen', '*'), 'listen', '"*"');
  refuses(() => validateSetting('http.connectPorts', 443), 'http.connectPorts', '443');
});

test('refuses numbers outside their range or not whole, quoting them', () => {
  refuses(() => validateSetting('http.port', 65536), 'http.port', '65536');
  refuses(() => validateSetting('http.port', -1), 'http.port', '-1');
  refuses(() => validateSetting('http.port', 80.5), 'http.port', '80.5');
  refuses(() => validateSetting('http.headerTimeout', 0.01), 'http.headerTimeout', '0.01');
  refuses(() => validateSetting('http.maxHeaderSize', 512), 'http.maxHeaderSize', '512');
  refuses(() => validateSetting('log.retentionDays', 0), 'log.retentionDays', '0');
});

test('refuses an empty list for listen and access.allowedSources', () => {
  refuses(() => validateSetting('listen', []), 'listen', '[]');
  refuses(() => parseSettingText('access.allowedSources', ' , '), 'access.allowedSources', '[]');
});

test('accepts "*", localhost and IP literals of both families for listen', () => {
  assert.deepEqual(validateSetting('listen', ['*']), ['*']);
  assert.deepEqual(validateSetting('listen', ['127.0.0.1', '::1', 'localhost']), ['127.0.0.1', '::1', 'localhost']);
  assert.deepEqual(parseSettingText('listen', '192.168.1.10, ::1'), ['192.168.1.10', '::1']);
});

test('refuses a host name in listen and admin.listen, quoting it', () => {
  refuses(() => validateSetting('listen', ['127.0.0.1', 'gateway.lan']), 'listen', '"gateway.lan"');
  refuses(() => validateSetting('admin.listen', 'gateway.lan'), 'admin.listen', '"gateway.lan"');
});

test(
  'refuses an address that only looks like an IP literal (999.1.1.1, ":::") in listen and admin.listen',
  () => {
    refuses(() => validateSetting('listen', ['999.1.1.1']), 'listen', '"999.1.1.1"');
    refuses(() => validateSetting('listen', [':::']), 'listen', '":::"');
    refuses(() => validateSetting('admin.listen', '300.300.300.300'), 'admin.listen', '"300.300.300.300"');
  },
);

test('checks access.allowedSources entries and trims them', () => {
  assert.deepEqual(validateSetting('access.allowedSources', [' local', '10.0.0.0/8 ']), ['local', '10.0.0.0/8']);
  refuses(() => validateSetting('access.allowedSources', ['local', 'printer.lan']), 'access.allowedSources', '"printer.lan"');
  refuses(() => parseSettingText('access.allowedSources', 'local,10.0.0.0/99'), 'access.allowedSources', '"10.0.0.0/99"');
});

test('parses booleans from true/false, on/off, yes/no and 1/0 in any case', () => {
  for (const t of ['true', 'ON', 'Yes', '1', ' on ']) assert.equal(parseSettingText('sharing.enabled', t), true, t);
  for (const t of ['false', 'OFF', 'no', '0']) assert.equal(parseSettingText('sharing.enabled', t), false, t);
  refuses(() => parseSettingText('sharing.enabled', 'maybe'), 'sharing.enabled', '"maybe"', 'true or false');
});

test('parses numbers, and refuses text that is not one, quoting it', () => {
  assert.equal(parseSettingText('http.port', ' 3128 '), 3128);
  assert.equal(parseSettingText('http.headerTimeout', '0.5'), 0.5);
  refuses(() => parseSettingText('http.port', 'eighty'), 'http.port', '"eighty"', 'not a number');
  refuses(() => parseSettingText('http.port', '1e3'), 'http.port', '"1e3"');
  refuses(() => parseSettingText('http.port', ''), 'http.port', '""');
  refuses(() => parseSettingText('http.port', '70000'), 'http.port', '70000');
});

test('formats lists joined by commas and scalars as text', () => {
  assert.equal(formatSetting(['local', '10.0.0.0/8']), 'local,10.0.0.0/8');
  assert.equal(formatSetting(true), 'true');
  assert.equal(formatSetting(8080), '8080');
});

test('parseSettingText returns a valid value or throws E_VALIDATION naming the key, for any text', () => {
  const keys = fc.constantFrom(...SETTING_KEYS);
  fc.assert(
    fc.property(keys, fc.string({ maxLength: 30 }), (key: SettingKey, text) => {
      let v: unknown;
      try {
        v = parseSettingText(key, text);
      } catch (e) {
        assert.ok(e instanceof GatehouseError, String(e));
        assert.equal(e.code, 'E_VALIDATION');
        assert.ok(e.message.startsWith(`setting ${key}: `), e.message);
        return;
      }
      assert.equal(SettingsSchema.shape[key].safeParse(v).success, true);
    }),
    { numRuns: 2000 },
  );
});
