/** Settings: read, describe, change (as values or as text), each change validated before anything is saved. */
import {
  DEFAULT_SETTINGS,
  SETTING_INFO,
  SETTING_KEYS,
  formatSetting,
  isSettingKey,
  parseSettingText,
  unknownSettingError,
  type Handlers,
} from '../../contract/index.js';
import { commit, type ControlContext } from '../context.js';

type SettingsMethods = 'settings.get' | 'settings.describe' | 'settings.update' | 'settings.setText';

export function settingsHandlers(ctx: ControlContext): Pick<Handlers, SettingsMethods> {
  return {
    'settings.get': () => ctx.config.settings,
    'settings.describe': () =>
      SETTING_KEYS.map((key) => ({
        key,
        value: ctx.config.settings[key],
        text: formatSetting(ctx.config.settings[key]),
        default: DEFAULT_SETTINGS[key],
        ...SETTING_INFO[key],
      })),
    'settings.update': ({ changes }) => commit(ctx, changes),
    'settings.setText': ({ key, value }) => {
      if (!isSettingKey(key)) throw unknownSettingError(key);
      return commit(ctx, { [key]: parseSettingText(key, value) });
    },
  };
}
