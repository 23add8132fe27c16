/**
 * The `gatehouse` command: `serve` runs the gateway headless; every other
 * command is a transport of the control service over the data directory
 * (main/cli/): it calls the same methods the UI calls, and a running gateway
 * notices changes within a second.
 */
import './v8-flags.js';
import { GatehouseError, SETTING_KEYS } from './contract/index.js';
import { VERSION } from './contract/version.js';
import { UsageError, defaultDataDir } from './cli/common.js';
import { adminUrlCmd, groupsCmd, rulesCmd, settingsCmd, usersCmd } from './cli/config.js';
import { LOGS_USAGE, logsCommand } from './cli/logs.js';
import { serve } from './cli/serve.js';
import { TUNNELS_USAGE, chainsCmd, mappingsCmd, routesCmd } from './cli/tunnels.js';

const USAGE = `Gatehouse ${VERSION}: share this PC's internet connection with the LAN.

Usage:
  gatehouse serve [--data-dir DIR] [--listen ADDR]... [--http-port N] [--socks-port N] [--admin-port N]
                  [--admin-listen ADDR] [--sharing on|off|saved] [--json] [--debug]
  ${LOGS_USAGE}
  gatehouse settings get [KEY] [--data-dir DIR] [--json]
  gatehouse settings set KEY VALUE [--data-dir DIR]
  gatehouse admin-url [--data-dir DIR]
  gatehouse users list [--json]
  gatehouse users add NAME --password-stdin [--group G]... [--note TEXT] [--disabled]
  gatehouse users passwd NAME --password-stdin
  gatehouse users disable|enable|remove NAME
  gatehouse groups list | add NAME [--member U]... | remove NAME
  gatehouse rules list [--json]
  gatehouse rules add --name NAME [--action allow|deny] [--service http,socks] [--source CIDR,...]
                      [--user U,...] [--group G,...] [--dest HOST|*.DOMAIN|CIDR,...] [--port 25,465-587]
                      [--days mon-fri] [--time 09:00-17:00] [--max-conns N] [--up-kbps N] [--down-kbps N]
                      [--position N (1 = first, the default)] [--disabled] [--note TEXT]
  gatehouse rules remove ID | move ID POSITION | enable ID | disable ID
  ${TUNNELS_USAGE}

List flags may be repeated or comma-separated (--dest a --dest b = --dest a,b).
The data directory defaults to ${defaultDataDir()} (or $GATEHOUSE_DATA_DIR).
Settings keys: ${SETTING_KEYS.join(', ')}.`;

const PARSE_ERRORS = new Set(['ERR_PARSE_ARGS_UNKNOWN_OPTION', 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL']);

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        return await serve(rest);
      case 'logs':
        return await logsCommand(rest);
      case 'settings':
        return await settingsCmd(rest);
      case 'admin-url':
        return await adminUrlCmd(rest);
      case 'users':
        return await usersCmd(rest);
      case 'groups':
        return await groupsCmd(rest);
      case 'rules':
        return await rulesCmd(rest);
      case 'mappings':
        return await mappingsCmd(rest);
      case 'chains':
        return await chainsCmd(rest);
      case 'routes':
        return await routesCmd(rest);
      case '--version':
      case 'version':
        process.stdout.write(VERSION + '\n');
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || PARSE_ERRORS.has((err as { code?: string }).code ?? '')) {
      process.stderr.write(`gatehouse: ${(err as Error).message}\nRun "gatehouse help" for usage.\n`);
      return 2;
    }
    // one line that says what is wrong; the stack only with --debug
    process.stderr.write(`gatehouse: ${(err as Error).message ?? err}\n`);
    if (!(err instanceof GatehouseError) && argv.includes('--debug')) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`gatehouse: ${err}\n`);
    process.exitCode = 1;
  },
);
