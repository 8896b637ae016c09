/**
 * `tapline web` (the review app over the config's catalogue, without recording) and its admin commands: accounts
 * and API tokens made before anyone can log in, and the audit log's hash chain checked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { CommandSpec } from '../../core/contract';
import { loadConfigFile } from '../../core/config/load';
import { prepareConfig, type PreparedConfig } from '../../core/plugins/loader';
import { throwIfProblems, validatePluginOptions } from '../../core/config/validate';
import { ErrorCodes, TaplineError } from '../../core/errors';
import type { WebOptions } from './app-context';
import { ROLES, sha256, WebState, type Role } from './state-db';

const CONFIG_OPTION = { flags: '-c, --config <file>', description: 'config file (default: searched from the current folder)' } as const;

async function webOptions(config: string | undefined): Promise<{ prepared: PreparedConfig; options: WebOptions }> {
  const loaded = await loadConfigFile(config);
  const prepared = await prepareConfig(loaded);
  const entry = prepared.plugins.find((p) => p.manifest.name === 'web');
  if (entry !== undefined) return { prepared, options: entry.options as unknown as WebOptions };
  const { webManifest } = require('./index') as typeof import('./index');
  const options: unknown = {};
  throwIfProblems(loaded.file, validatePluginOptions(webManifest.optionsSchema, options, '/(web defaults)', 'web'));
  return { prepared, options: options as WebOptions };
}

async function openState(config: string | undefined): Promise<WebState> {
  const { prepared, options } = await webOptions(config);
  return WebState.open(path.resolve(prepared.dir, options.dir));
}

function readPassword(o: { passwordEnv?: string; passwordFile?: string }): string | undefined {
  if (o.passwordEnv !== undefined) {
    const v = process.env[o.passwordEnv];
    if (v === undefined || v === '') throw new TaplineError(ErrorCodes.USAGE, `--password-env ${o.passwordEnv}: the variable is not set`, {});
    return v;
  }
  if (o.passwordFile !== undefined) return fs.readFileSync(o.passwordFile, 'utf8').replace(/\r?\n$/, '');
  return undefined;
}

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter((s) => s !== '');

export const webCommands: readonly CommandSpec[] = [
  {
    name: 'web',
    description: "Serve the review web app over the config's catalogue, without recording (the web plugin's options; `tapline serve` serves it too when the config enables it)",
    options: [CONFIG_OPTION],
    run: async (_a, o) => {
      const { prepared } = await webOptions(o.config as string | undefined);
      if (!prepared.plugins.some((p) => p.manifest.name === 'web')) throw new TaplineError(ErrorCodes.USAGE, 'the config does not enable the web plugin: add { "use": "web" } to its plugins', {});
      const { ReaderHost } = require('../../core/service/reader-host') as typeof import('../../core/service/reader-host');
      const host = await ReaderHost.create(prepared, { start: ['web'] });
      await host.start();
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await host.stop();
    },
  },
  {
    name: 'web account add',
    description: 'Create or update a web app account (the first admin is made here)',
    arguments: [{ name: 'username', description: 'login name' }],
    options: [
      { flags: '--role <role>', description: 'admin, supervisor, agent or auditor', choices: ROLES, required: true },
      { flags: '--name <name>', description: 'display name' },
      { flags: '--uris <list>', description: 'comma-separated SIP URIs that are this person (an agent sees their recordings)', parse: list },
      { flags: '--teams <list>', description: "comma-separated teams (a supervisor sees their teams' recordings)", parse: list },
      { flags: '--password-env <var>', description: 'read the password from this environment variable' },
      { flags: '--password-file <file>', description: 'read the password from this file' },
      CONFIG_OPTION,
    ],
    run: async (args, o) => {
      const state = await openState(o.config as string | undefined);
      try {
        const username = String(args[0]);
        const password = readPassword(o as { passwordEnv?: string; passwordFile?: string });
        if (password !== undefined && password.length < 10) throw new TaplineError(ErrorCodes.USAGE, 'the password must be at least 10 characters', {});
        const { hashPassword } = require('./passwords') as typeof import('./passwords');
        const cur = state.account(username);
        state.saveAccount(
          { username, ...(o.name !== undefined ? { name: String(o.name) } : cur?.name !== undefined ? { name: cur.name } : {}), role: o.role as Role, uris: (o.uris as string[] | undefined) ?? cur?.uris ?? [], teams: (o.teams as string[] | undefined) ?? cur?.teams ?? [], disabled: false, ...(cur?.oidcSubject !== undefined ? { oidcSubject: cur.oidcSubject } : {}) },
          password === undefined ? undefined : await hashPassword(password),
        );
        state.audit({ actor: '(cli)', action: cur === undefined ? 'account-created' : 'account-changed', target: username, detail: { role: o.role } });
        process.stdout.write(`${cur === undefined ? 'created' : 'updated'} account ${username} (${String(o.role)})${password === undefined && cur === undefined ? ': no password (single sign-on only)' : ''}\n`);
      } finally {
        state.close();
      }
    },
  },
  {
    name: 'web account list',
    description: 'List the web app accounts',
    options: [CONFIG_OPTION],
    run: async (_a, o) => {
      const state = await openState(o.config as string | undefined);
      try {
        for (const a of state.accounts()) process.stdout.write(`${a.username}\t${a.role}\t${a.uris.join(',')}\t${a.teams.join(',')}${a.disabled ? '\tdisabled' : ''}\n`);
      } finally {
        state.close();
      }
    },
  },
  {
    name: 'web token create',
    description: 'Create an API token for an account (printed once; send it as Authorization: Bearer <token>)',
    arguments: [{ name: 'username', description: 'the account the token acts as' }],
    options: [{ flags: '--name <name>', description: 'what the token is for', default: 'cli' }, CONFIG_OPTION],
    run: async (args, o) => {
      const state = await openState(o.config as string | undefined);
      try {
        const username = String(args[0]);
        if (state.account(username) === undefined) throw new TaplineError(ErrorCodes.USAGE, `no account ${username}`, {});
        const token = `tpl_${randomBytes(32).toString('base64url')}`;
        state.createToken(username, String(o.name), sha256(token));
        state.audit({ actor: '(cli)', action: 'token-created', target: username, detail: { name: o.name } });
        process.stdout.write(`${token}\n`);
      } finally {
        state.close();
      }
    },
  },
  {
    name: 'web audit verify',
    description: "Check the audit log's hash chain (an entry changed outside the app breaks it)",
    options: [CONFIG_OPTION],
    run: async (_a, o) => {
      const state = await openState(o.config as string | undefined);
      try {
        const broken = state.verifyAudit();
        if (broken === undefined) process.stdout.write('audit log intact\n');
        else {
          process.stdout.write(`audit log altered at entry ${broken}\n`);
          process.exitCode = 1;
        }
      } finally {
        state.close();
      }
    },
  },
];
