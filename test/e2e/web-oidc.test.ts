/**
 * Single sign-on against a real OpenID Connect provider: `oidc-provider` (the certified Node.js implementation) runs
 * in this process on a loopback port with one confidential client, its built-in login and consent pages, and PKCE
 * required; `tapline web` runs as its own process configured with that issuer; Debian's Chromium (playwright-core)
 * clicks "Log in with single sign-on", signs in at the provider and lands back in the review app. Who the provider
 * vouches for decides the account: a known username logs in with that account's role and reach, an unknown one is
 * refused (or created with `autoCreateRole`), and a callback without this browser's pending login is refused.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium, shot } from '../browser';
import { freeTcpPort } from '../serve-process';
import { ApiClient, cli, recordCatalogue, startWeb, type WebFixture } from '../web-fixture';

/** The little of oidc-provider's API used here (an ES module without its own type declarations). */
interface OidcProvider {
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
  on(event: string, listener: (...args: unknown[]) => void): void;
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;

const OIDC_PROVIDER = 'oidc-provider';
const CLIENT_ID = 'tapline-review';
const CLIENT_SECRET = 'a client secret only the test and the provider know';
const SECRET_ENV = 'TAPLINE_TEST_OIDC_SECRET';

/**
 * The provider's users, by subject (what its dev login page's "login" field takes). Subjects differ from the
 * usernames on purpose: the app must map the `preferred_username` claim, not the subject, to its accounts.
 */
const PEOPLE: Record<string, { preferred_username: string; name: string }> = {
  'u-1001': { preferred_username: 'agent1', name: 'Agent One (SSO)' },
  'u-2002': { preferred_username: 'newcomer', name: 'New Comer' },
  /** Another person whose provider calls them agent1 too (a username claim is neither unique nor stable). */
  'u-3003': { preferred_username: 'agent1', name: 'Not Agent One' },
};

interface SessionBody {
  user?: { username: string; role: string; name?: string };
  error?: string;
  oidc?: boolean;
}

describe('web single sign-on with a real OpenID Connect provider (oidc-provider, Chromium)', function () {
  this.timeout(240_000);
  let server: http.Server | undefined;
  let issuer = '';
  const providerErrors: string[] = [];
  let web: WebFixture | undefined;
  /** Same catalogue, own state folder (no accounts), unknown users created as auditors. */
  let webAuto: WebFixture | undefined;
  let browser: Browser | undefined;
  let dir: string | undefined;

  before(async function () {
    if (!fs.existsSync(cli)) {
      console.log(`      (skipped: ${cli} is not built; run npx tsc -p . first)`);
      this.skip();
    }
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`      (skipped: ${CHROMIUM} is not installed; npm run test:all installs it)`);
      this.skip();
    }
    const [port, portAuto] = [await freeTcpPort(), await freeTcpPort()];
    const redirect = `http://127.0.0.1:${port}/api/login/oidc/callback`;
    const redirectAuto = `http://127.0.0.1:${portAuto}/api/login/oidc/callback`;

    // The provider: listening first (so its issuer URL has its real port), then given its request handler.
    // Named through a variable: the package has no type declarations (only DefinitelyTyped's, not installed).
    const { default: Provider } = (await import(OIDC_PROVIDER)) as { default: ProviderClass };
    let handler: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
    server = http.createServer((req, res) => (handler === undefined ? res.writeHead(503).end() : handler(req, res)));
    await new Promise<void>((resolve, reject) => {
      server?.once('error', reject);
      server?.listen(0, '127.0.0.1', () => resolve());
    });
    issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [redirect, redirectAuto],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      async findAccount(_ctx: unknown, sub: string) {
        const who = PEOPLE[sub];
        if (who === undefined) return undefined;
        return { accountId: sub, claims: async () => ({ sub, ...who }) };
      },
      claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
      cookies: { keys: ['oidc-provider cookie signing key for this test only'] },
      features: { devInteractions: { enabled: true } },
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
      // PKCE: its default (required for every authorization code request) is left as is.
    });
    for (const ev of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error']) provider.on(ev, (...args) => providerErrors.push(`${ev}: ${String(args[args.length - 1])}`));
    handler = provider.callback();

    const oidc = { issuer, clientId: CLIENT_ID, clientSecretEnv: SECRET_ENV, redirectUri: redirect, allowInsecureIssuer: true };
    const cat = await recordCatalogue({ port, oidc });
    dir = cat.dir;
    // The second instance: the same recordings, its own accounts database (empty), unknown users become auditors.
    const cfg = JSON.parse(fs.readFileSync(cat.config, 'utf8')) as { plugins: Array<{ use: string; options?: Record<string, unknown> }> };
    const webPlugin = cfg.plugins.find((p) => p.use === 'web');
    assert.ok(webPlugin !== undefined);
    webPlugin.options = { ...webPlugin.options, port: portAuto, dir: 'web-auto', oidc: { ...oidc, redirectUri: redirectAuto, autoCreateRole: 'auditor' } };
    const configAuto = path.join(dir, 'tapline.auto.config.json');
    fs.writeFileSync(configAuto, JSON.stringify(cfg, null, 2));

    // The client secret reaches the web processes through the environment only.
    process.env[SECRET_ENV] = CLIENT_SECRET;
    try {
      web = await startWeb(dir, cat.config);
      webAuto = await startWeb(dir, configAuto);
    } finally {
      delete process.env[SECRET_ENV];
    }
    assert.equal(web.url, `http://127.0.0.1:${port}`);
    assert.equal(webAuto.url, `http://127.0.0.1:${portAuto}`);
    browser = await launchChromium();
  });

  after(async () => {
    delete process.env[SECRET_ENV];
    await browser?.close();
    await web?.stop();
    await webAuto?.stop();
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server?.close(() => resolve()));
    }
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.log(`--- tapline web log ---\n${web?.log() ?? ''}\n--- autoCreate instance log ---\n${webAuto?.log() ?? ''}\n--- provider errors ---\n${providerErrors.join('\n')}`);
    }
  });

  /**
   * From the app's login page through the provider's sign-in (and consent) pages; resolves with the callback's
   * response (the app's answer to the provider's redirect).
   */
  async function singleSignOn(page: Page, base: string, sub: string, shotPrefix: string): Promise<{ status: number; body: string; url: string }> {
    await page.goto(base + '/');
    await page.waitForFunction(() => document.body.dataset.view === 'login');
    await page.getByTestId('login-oidc').waitFor({ state: 'visible' });
    await shot(page, `${shotPrefix}-app-login`);
    await page.getByTestId('login-oidc').click();
    // The provider's own sign-in page.
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`));
    await page.locator('input[name=login]').fill(sub);
    await page.locator('input[name=password]').fill('any password (the dev login page checks none)');
    await shot(page, `${shotPrefix}-provider-login`);
    const callback = page.waitForResponse((r) => r.url().startsWith(`${base}/api/login/oidc/callback`), { timeout: 30_000 });
    await page.locator('button[type=submit]').click();
    // Consent for this client (a fresh browser has none yet): the provider's "Authorize" page, then back to the app.
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`) || u.href.startsWith(base));
    if (page.url().startsWith(`${issuer}/interaction/`)) {
      await page.locator('input[name=prompt][value=consent]').waitFor({ state: 'attached' });
      await shot(page, `${shotPrefix}-provider-consent`);
      await page.locator('button[type=submit]').click();
    }
    const r = await callback;
    return { status: r.status(), body: r.status() >= 300 && r.status() < 400 ? '' : await r.text(), url: r.url() };
  }

  async function sessionOf(page: Page): Promise<{ status: number; body: SessionBody }> {
    return page.evaluate(async () => {
      const r = await fetch('/api/session');
      return { status: r.status, body: (await r.json()) as SessionBody };
    });
  }

  it('logs a provider user whose preferred_username is an account in as that account, with its role and reach', async () => {
    assert.ok(web !== undefined && browser !== undefined);
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const cb = await singleSignOn(page, web.url, 'u-1001', 'web-oidc-agent');
    assert.equal(cb.status, 302, `callback answered ${cb.status}: ${cb.body}`);
    const cbUrl = new URL(cb.url);
    assert.ok(cbUrl.searchParams.get('code'), 'the provider sent an authorization code');
    assert.equal(cbUrl.searchParams.get('iss'), issuer, 'and its issuer (RFC 9207)');
    await page.waitForFunction(() => document.body.dataset.view === 'recordings');
    await page.getByTestId('result-row').first().waitFor();
    const rows = await page.getByTestId('result-row').allInnerTexts();
    assert.equal(rows.length, 1, 'an agent sees only their own recordings');
    assert.match(rows[0] as string, /caller1/);
    await shot(page, 'web-oidc-agent-recordings');
    const s = await sessionOf(page);
    assert.equal(s.status, 200);
    assert.equal(s.body.user?.username, 'agent1');
    assert.equal(s.body.user?.role, 'agent');
    assert.equal(await page.getByTestId('nav-admin').count(), 0, 'no admin pages for an agent');
    // The pending-login cookie was used up; only the session cookie remains.
    // (Cookies are per host, not per port: the provider's own _session cookies on 127.0.0.1 are left out.)
    const cookies = (await context.cookies(web.url)).map((c) => c.name).filter((n) => n.startsWith('tapline_'));
    assert.deepEqual(cookies, ['tapline_session']);
    assert.deepEqual(errors, []);

    // Replaying the callback (its code and state) from elsewhere gets nothing.
    const replay = await fetch(cb.url, { redirect: 'manual' });
    assert.equal(replay.status, 401);
    await context.close();

    // The account is now linked to the provider's subject.
    const admin = await ApiClient.login(web.url, 'admin');
    const accounts = await admin.json<{ items: Array<{ username: string; sso?: boolean }> }>('GET', '/api/accounts');
    assert.equal(accounts.status, 200);
    assert.equal(accounts.body.items.find((a) => a.username === 'agent1')?.sso, true);
    assert.equal(accounts.body.items.find((a) => a.username === 'agent2')?.sso, false);
  });

  it('logs the same provider user in again by their linked subject', async () => {
    assert.ok(web !== undefined && browser !== undefined);
    const context = await browser.newContext();
    const page = await context.newPage();
    const cb = await singleSignOn(page, web.url, 'u-1001', 'web-oidc-agent-again');
    assert.equal(cb.status, 302, cb.body);
    await page.waitForFunction(() => document.body.dataset.view === 'recordings');
    const s = await sessionOf(page);
    assert.equal(s.body.user?.username, 'agent1');
    await context.close();
  });

  it('refuses another provider user claiming the username of an account linked to someone else: back on the login page, which says why', async () => {
    assert.ok(web !== undefined && browser !== undefined);
    const context = await browser.newContext();
    const page = await context.newPage();
    // agent1 was linked to u-1001 by the first test; u-3003's provider calls them agent1 too.
    const cb = await singleSignOn(page, web.url, 'u-3003', 'web-oidc-impostor');
    // A browser is sent back to the login page, which says why.
    assert.equal(cb.status, 303, cb.body);
    await page.getByTestId('login-error').waitFor();
    assert.match(await page.getByTestId('login-error').innerText(), /the account agent1 belongs to another single sign-on user/);
    assert.equal(new URL(page.url()).search, '', 'the reason leaves the address bar once shown');
    await shot(page, 'web-oidc-impostor-refused');
    assert.equal((await sessionOf(page)).status, 401);
    await context.close();
  });

  it('refuses a provider user who has no account here when autoCreateRole is not set: back on the login page, which says why', async () => {
    assert.ok(web !== undefined && browser !== undefined);
    const context = await browser.newContext();
    const page = await context.newPage();
    const cb = await singleSignOn(page, web.url, 'u-2002', 'web-oidc-unknown');
    assert.equal(cb.status, 303);
    await page.getByTestId('login-error').waitFor();
    assert.match(await page.getByTestId('login-error').innerText(), /single sign-on: newcomer has no account here/);
    await shot(page, 'web-oidc-unknown-refused');
    const s = await sessionOf(page);
    assert.equal(s.status, 401, 'no session');
    assert.deepEqual((await context.cookies(web.url)).map((c) => c.name).filter((n) => n.startsWith('tapline_')), [], 'no session cookie, and the pending login is gone');
    await context.close();
    const admin = await ApiClient.login(web.url, 'admin');
    const accounts = await admin.json<{ items: Array<{ username: string }> }>('GET', '/api/accounts');
    assert.ok(!accounts.body.items.some((a) => a.username === 'newcomer'), 'no account was created');
  });

  it('creates the account of an unknown provider user with autoCreateRole', async () => {
    assert.ok(webAuto !== undefined && browser !== undefined);
    const context = await browser.newContext();
    const page = await context.newPage();
    const cb = await singleSignOn(page, webAuto.url, 'u-2002', 'web-oidc-autocreate');
    assert.equal(cb.status, 302, `callback answered ${cb.status}: ${cb.body}`);
    // An auditor's home is the audit log.
    await page.waitForFunction(() => document.body.dataset.view === 'audit');
    await page.getByTestId('audit-row').first().waitFor();
    await shot(page, 'web-oidc-autocreate-audit');
    const s = await sessionOf(page);
    assert.equal(s.status, 200);
    assert.equal(s.body.user?.username, 'newcomer');
    assert.equal(s.body.user?.role, 'auditor');
    assert.equal(s.body.user?.name, 'New Comer');
    // An auditor reads the audit log: the account's creation and its login by single sign-on.
    const audit = await page.evaluate(async () => ((await (await fetch('/api/audit')).json()) as { items: Array<{ actor: string; action: string; detail?: Record<string, unknown> }> }).items);
    assert.ok(audit.some((e) => e.action === 'account-created' && e.actor === 'newcomer' && e.detail?.['by'] === 'oidc' && e.detail?.['role'] === 'auditor'), JSON.stringify(audit));
    assert.ok(audit.some((e) => e.action === 'login' && e.actor === 'newcomer' && e.detail?.['method'] === 'oidc'), JSON.stringify(audit));
    await context.close();
  });

  it('refuses a callback without this browser’s pending login, or with a wrong or missing state (401)', async () => {
    assert.ok(web !== undefined);
    const cb = `${web.url}/api/login/oidc/callback`;
    // No pending-login cookie at all.
    let r = await fetch(`${cb}?code=made-up&state=made-up&iss=${encodeURIComponent(issuer)}`, { redirect: 'manual' });
    assert.equal(r.status, 401);
    assert.match(((await r.json()) as { error: string }).error, /no login in progress from this browser/);

    // A real start: the provider's URL carries a state, and the pending cookie is set.
    const start = async (): Promise<{ cookie: string; state: string }> => {
      const s = await fetch(`${web?.url ?? ''}/api/login/oidc`, { redirect: 'manual' });
      assert.equal(s.status, 302);
      const to = new URL(s.headers.get('location') ?? '');
      assert.equal(to.origin, issuer);
      assert.equal(to.searchParams.get('client_id'), CLIENT_ID);
      assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
      assert.ok(to.searchParams.get('code_challenge'));
      const state = to.searchParams.get('state') ?? '';
      assert.ok(state !== '');
      const set = s.headers.getSetCookie().find((c) => c.startsWith('tapline_oidc='));
      assert.ok(set !== undefined, 'pending-login cookie set');
      assert.match(set, /HttpOnly/i);
      assert.match(set, /SameSite=Lax/i);
      return { cookie: set.split(';')[0] as string, state };
    };

    // The cookie, but another state in the callback.
    let p = await start();
    r = await fetch(`${cb}?code=made-up&state=not-${p.state}&iss=${encodeURIComponent(issuer)}`, { headers: { cookie: p.cookie }, redirect: 'manual' });
    assert.equal(r.status, 401);
    assert.match(((await r.json()) as { error: string }).error, /single sign-on failed: .*"state"/);
    assert.ok(!r.headers.getSetCookie().some((c) => c.startsWith('tapline_session=')), 'no session');

    // The cookie, but no state in the callback.
    p = await start();
    r = await fetch(`${cb}?code=made-up&iss=${encodeURIComponent(issuer)}`, { headers: { cookie: p.cookie }, redirect: 'manual' });
    assert.equal(r.status, 401);
    assert.match(((await r.json()) as { error: string }).error, /single sign-on failed/);

    // The right state but a cookie that is not this app's pending login (tampered).
    p = await start();
    r = await fetch(`${cb}?code=made-up&state=${p.state}&iss=${encodeURIComponent(issuer)}`, { headers: { cookie: 'tapline_oidc=garbage' }, redirect: 'manual' });
    assert.equal(r.status, 401);

    // The provider's error answer (the user cancelled) is refused as well.
    p = await start();
    r = await fetch(`${cb}?error=access_denied&error_description=End-User+aborted+interaction&state=${p.state}&iss=${encodeURIComponent(issuer)}`, { headers: { cookie: p.cookie }, redirect: 'manual' });
    assert.equal(r.status, 401);
    assert.match(((await r.json()) as { error: string }).error, /access_denied|aborted/);
  });

  it('records single sign-on logins in the audit log (method oidc), and the refused ones', async () => {
    assert.ok(web !== undefined);
    const admin = await ApiClient.login(web.url, 'admin');
    const r = await admin.json<{ items: Array<{ actor: string; action: string; detail?: Record<string, unknown> }> }>('GET', '/api/audit?limit=500');
    assert.equal(r.status, 200);
    const items = r.body.items;
    const oidcLogins = items.filter((e) => e.action === 'login' && e.detail?.['method'] === 'oidc');
    assert.ok(oidcLogins.length >= 2, JSON.stringify(items));
    assert.ok(oidcLogins.every((e) => e.actor === 'agent1'));
    assert.ok(items.some((e) => e.action === 'login-failed' && e.actor === 'newcomer' && e.detail?.['method'] === 'oidc' && e.detail?.['reason'] === 'no account'), JSON.stringify(items));
    assert.ok(items.some((e) => e.action === 'login-failed' && e.actor === 'agent1' && e.detail?.['reason'] === 'account linked to another subject'), JSON.stringify(items));
    assert.ok(items.some((e) => e.action === 'login-failed' && e.actor === '(oidc)' && e.detail?.['method'] === 'oidc'), 'the bad callbacks');
    assert.ok(items.some((e) => e.action === 'login' && e.actor === 'admin' && e.detail?.['method'] === 'password'));
  });
});
