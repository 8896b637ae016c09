/** The web app's lifecycle inside a host (`tapline serve`, or `tapline web`'s reader): open, listen, close. */
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { PluginContext, RecordingLibrary } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import { ErrorCodes, TaplineError } from '../../core/errors';
import type { AppContext, WebOptions } from './app-context';
import { WebState } from './state-db';
import { LiveCalls } from './live-calls';
import { LoginThrottle } from './login-throttle';
import { OidcLogin } from './oidc';
import { buildWebApp } from './server';
import { AllowList, LOOPBACK_ONLY } from '../../core/net/allow-list';

const LOOPBACK = AllowList.parse(LOOPBACK_ONLY);

/** A config that would put the app on the network in the clear is refused before anything listens. */
export function checkExposure(o: WebOptions): void {
  if (o.tls === undefined && !o.insecureHttp && o.host !== 'localhost' && !LOOPBACK.allows(o.host)) {
    throw new TaplineError(ErrorCodes.CONFIG_INVALID, `web: host ${o.host} is not loopback: configure tls (cert, key), or set insecureHttp: true only behind a proxy that terminates TLS`, { host: o.host });
  }
}

export class WebService {
  private app: FastifyInstance | undefined;
  private library: RecordingLibrary | undefined;
  private state: WebState | undefined;
  private live: LiveCalls | undefined;
  /** Where it listens once started ('https://127.0.0.1:8443'). */
  url = '';

  constructor(private readonly ctx: PluginContext<WebOptions>) {}

  async start(): Promise<void> {
    const o = this.ctx.options;
    checkExposure(o);
    const c = this.ctx.container;
    if (!c.isRegistered(Tokens.Library, true)) throw new TaplineError(ErrorCodes.CONFIG_INVALID, 'web: no storage plugin in the config offers a recording library: enable storage-local', {});
    this.library = await c.resolve(Tokens.Library).open();
    this.state = WebState.open(path.resolve(this.ctx.configDir, o.dir));
    // Live calls exist where a recorder runs in this process (its dialogs are registered); `tapline web` has none.
    if (c.isRegistered(Tokens.Dialogs, true)) this.live = new LiveCalls(this.ctx.events, o.liveCallsMax);
    const app: AppContext = {
      library: this.library,
      state: this.state,
      log: this.ctx.log,
      options: o,
      ...(this.live !== undefined ? { live: this.live } : {}),
      ...(c.isRegistered(Tokens.CallControl, true) ? { control: c.resolve(Tokens.CallControl) } : {}),
      users: c.resolve(Tokens.Users),
      ...(c.isRegistered(Tokens.Endpoints, true) ? { endpoints: c.resolve(Tokens.Endpoints) } : {}),
      config: c.resolve(Tokens.Config),
      configDir: this.ctx.configDir,
      throttle: new LoginThrottle({ freeFailures: o.login.freeFailures, windowMs: o.login.windowMin * 60_000, maxDelayMs: o.login.maxDelaySec * 1000 }),
      ...(o.oidc !== undefined ? { oidc: await OidcLogin.discover(o.oidc) } : {}),
      secure: o.tls !== undefined,
    };
    this.app = await buildWebApp(app);
    await this.app.listen({ host: o.host, port: o.port });
    const addr = this.app.server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
    this.url = `${o.tls !== undefined ? 'https' : 'http'}://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
    this.ctx.log.info(`web: review app at ${this.url}`, { url: this.url });
  }

  /** Idempotent. */
  async stop(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    this.live?.close();
    this.live = undefined;
    if (app !== undefined) await app.close();
    await this.library?.close();
    this.library = undefined;
    this.state?.close();
    this.state = undefined;
  }
}
