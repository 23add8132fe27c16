// Rewrites the settings table in README.md from main/contract/settings.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { DEFAULT_SETTINGS, SETTING_INFO, SETTING_KEYS, formatSetting } from '../main/contract/settings.js';

const rows = [
  '| key | default | meaning |',
  '|---|---|---|',
  ...SETTING_KEYS.map((k) => `| \`${k}\` | \`${formatSetting(DEFAULT_SETTINGS[k]) || '""'}\` | ${SETTING_INFO[k].description} |`),
].join('\n');
const path = new URL('../README.md', import.meta.url);
const text = readFileSync(path, 'utf8');
writeFileSync(path, text.replace(/<!-- settings-table:start -->[\s\S]*<!-- settings-table:end -->/, `<!-- settings-table:start -->\n${rows}\n<!-- settings-table:end -->`));
