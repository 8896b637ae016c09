/**
 * Single sign-on with OpenID Connect (openid-client: certified, maintained): authorization code flow with PKCE and
 * state, the provider's metadata discovered at start. Who may log in and with which role is the accounts table's
 * decision: an account linked to the subject, else one whose username is the configured claim, else (with
 * `autoCreateRole`) a new account.
 */
import type * as OidcClient from 'openid-client' with { 'resolution-mode': 'import' };
import type { WebOptions } from './app-context';

/** openid-client is an ES module; Node 20.19+ requires it synchronously (typed from its own declarations). */
function client(): typeof OidcClient {
  return require('openid-client') as typeof OidcClient;
}

export interface OidcStart {
  url: string;
  /** Kept in a short-lived cookie until the callback. */
  state: string;
  verifier: string;
}

export interface OidcIdentity {
  subject: string;
  username: string;
  name?: string;
}

export class OidcLogin {
  private constructor(
    private readonly cfg: OidcClient.Configuration,
    private readonly o: NonNullable<WebOptions['oidc']>,
  ) {}

  static async discover(o: NonNullable<WebOptions['oidc']>, env: NodeJS.ProcessEnv = process.env): Promise<OidcLogin> {
    const c = client();
    const secret = o.clientSecretEnv === undefined ? undefined : env[o.clientSecretEnv];
    if (o.clientSecretEnv !== undefined && (secret === undefined || secret === '')) throw new Error(`web oidc: the client secret is read from the environment variable ${o.clientSecretEnv}, which is not set`);
    const cfg = await c.discovery(new URL(o.issuer), o.clientId, secret, secret === undefined ? c.None() : undefined, o.allowInsecureIssuer ? { execute: [c.allowInsecureRequests] } : undefined);
    return new OidcLogin(cfg, o);
  }

  async start(): Promise<OidcStart> {
    const c = client();
    const verifier = c.randomPKCECodeVerifier();
    const state = c.randomState();
    const url = c.buildAuthorizationUrl(this.cfg, { redirect_uri: this.o.redirectUri, scope: this.o.scope, code_challenge: await c.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
    return { url: url.href, state, verifier };
  }

  /**
   * The identity the provider vouches for, from the callback URL (throws naming what failed). The ID token is read
   * first; a claim it lacks (the username, the name) is asked of the UserInfo endpoint, as OpenID Connect Core 5.4
   * has it: providers that conform (oidc-provider's default, among others) put the claims of the `profile` scope in
   * the UserInfo response only, not in the ID token of the code flow.
   */
  async finish(callbackUrl: URL, state: string, verifier: string): Promise<OidcIdentity> {
    const c = client();
    try {
      const tokens = await c.authorizationCodeGrant(this.cfg, callbackUrl, { pkceCodeVerifier: verifier, expectedState: state });
      const idClaims = tokens.claims();
      if (idClaims === undefined) throw new Error('the provider returned no ID token');
      let claims: Record<string, unknown> = idClaims;
      const missing = (k: string): boolean => typeof claims[k] !== 'string' || claims[k] === '';
      if ((missing(this.o.usernameClaim) || missing('name')) && this.cfg.serverMetadata().userinfo_endpoint !== undefined) {
        // The subject is checked against the ID token's (a UserInfo answer about someone else is refused).
        const info = await c.fetchUserInfo(this.cfg, tokens.access_token, idClaims.sub);
        claims = { ...info, ...Object.fromEntries(Object.entries(idClaims).filter(([, v]) => v !== undefined)) };
      }
      const username = claims[this.o.usernameClaim];
      const name = claims['name'];
      return { subject: idClaims.sub, username: typeof username === 'string' && username !== '' ? username : idClaims.sub, ...(typeof name === 'string' ? { name } : {}) };
    } catch (e) {
      throw new Error(describe(e));
    }
  }
}

/**
 * An openid-client error as one line: its own message is generic ("invalid response encountered"), the reason is in
 * its cause ('unexpected "state" response parameter value') or in the provider's error answer (access_denied: ...).
 */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const x = e as Error & { error?: unknown; error_description?: unknown };
  if (typeof x.error === 'string') return `the provider answered ${x.error}${typeof x.error_description === 'string' ? `: ${x.error_description}` : ''}`;
  const cause = e.cause instanceof Error && e.cause.message !== '' && e.cause.message !== e.message ? `: ${e.cause.message}` : '';
  return `${e.message}${cause}`;
}
