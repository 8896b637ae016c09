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

  /** The identity the provider vouches for, from the callback URL (throws naming what failed). */
  async finish(callbackUrl: URL, state: string, verifier: string): Promise<OidcIdentity> {
    const tokens = await client().authorizationCodeGrant(this.cfg, callbackUrl, { pkceCodeVerifier: verifier, expectedState: state });
    const claims = tokens.claims();
    if (claims === undefined) throw new Error('the provider returned no ID token');
    const username = claims[this.o.usernameClaim];
    const name = claims.name;
    return { subject: claims.sub, username: typeof username === 'string' && username !== '' ? username : claims.sub, ...(typeof name === 'string' ? { name } : {}) };
  }
}
