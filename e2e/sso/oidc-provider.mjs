// A real OpenID Provider (npm `oidc-provider`) for the SSO tests, configured by one JSON file
// whose path is in OIDC_PROVIDER_CONFIG (crates/api/tests/api/sso_peers.rs writes it):
//
//   {
//     "port": 4000,                          // listens on 127.0.0.1:port
//     "issuer": "http://127.0.0.1:4000",
//     "jwks_file": "/tmp/x/jwks.json",      // private signing keys; made (RS256) when missing
//     "publish_other_key": false,            // /jwks shows another key (same kid) than the signing one
//     "id_token_ttl_seconds": 3600,          // >= 1 (oidc-provider refuses 0 and negatives)
//     "clock_offset_seconds": 0,             // the provider's clock runs this far ahead (< 0: behind)
//     "clients": [{ "client_id": "app", "client_secret": "s3cret" /* absent: public client */,
//                   "redirect_uris": ["http://localhost:7860/auth/callback"],
//                   "post_logout_redirect_uris": ["http://localhost:7860/"],
//                   "token_endpoint_auth_method": "client_secret_basic" /* optional */ }],
//     "users": [{ "login": "ann@acme.test", "claims": { "sub": "ann", "email": "...", ... } }]
//   }
//
// Sign-in has no form: the interaction logs in the user whose `login` equals the authorization
// request's `login_hint` at once (no or an unknown hint: an error page, status 400; a browser
// signed in as someone else is signed out first), and consent is granted without asking. The
// user's claims go into the ID token (`conformIdTokenClaims: false`), the way Entra ID does:
// email/email_verified with scope `email`, name/preferred_username with `profile`, all others
// (oid, upn, groups, roles, ...) always. Claims a user lacks are absent.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import Provider, { interactionPolicy } from 'oidc-provider';

const configPath = process.env.OIDC_PROVIDER_CONFIG;
if (!configPath) {
  console.error('OIDC_PROVIDER_CONFIG must name the JSON config file');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));

// Shifts the clock every timestamp (iat, exp, code expiry) is taken from, as on an IdP whose clock
// is wrong: with a large negative offset the ID token is already expired when the app gets it.
if (config.clock_offset_seconds) {
  const realNow = Date.now;
  Date.now = () => realNow() + config.clock_offset_seconds * 1000;
}

function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function publicPart({ kty, n, e, kid, alg, use }) {
  return { kty, n, e, kid, alg, use };
}

if (!existsSync(config.jwks_file)) {
  writeFileSync(config.jwks_file, JSON.stringify({ keys: [newSigningKey()] }), { mode: 0o600 });
}
const jwks = JSON.parse(readFileSync(config.jwks_file, 'utf8'));
// A key nobody signs with, published instead of the real one under the same `kid`: a client
// that picks the key by `kid` gets this one, and the signature must fail to verify.
const otherJwks = config.publish_other_key
  ? { keys: jwks.keys.map((key) => publicPart({ ...newSigningKey(), kid: key.kid })) }
  : null;

const users = new Map(config.users.map((user) => [user.login, user]));
const usersBySub = new Map(config.users.map((user) => [user.claims.sub, user]));

// The browser's session is reused only for the user the request names: a `login_hint` for
// someone else (or no one known) asks for a login, which the interaction below answers.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'login_hint_other_user',
  'login_hint names another user than the signed-in one',
  (ctx) => {
    const hint = ctx.oidc.params.login_hint;
    const signedIn = ctx.oidc.session.accountId;
    return Boolean(hint && signedIn && users.get(hint)?.claims.sub !== signedIn);
  },
));

// Cookies expire by the provider's clock; on a clock that runs behind they would be expired by
// the client's, so the session and interaction lifetimes absorb the offset.
const behind = Math.max(0, -(config.clock_offset_seconds ?? 0));

const standard = {
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username'],
};
const scoped = new Set(Object.values(standard).flat());
// Entra-style claims (oid, upn, groups, roles, ...) ride on `openid`, so every ID token has them.
const openidClaims = new Set(['sub']);
for (const user of config.users) {
  for (const claim of Object.keys(user.claims)) {
    if (!scoped.has(claim)) openidClaims.add(claim);
  }
}

function page(title, message) {
  const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1 id="error">${escape(title)}</h1><p id="error_description">${escape(message)}</p>`
    + '</body></html>';
}

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    ...(client.client_secret
      ? {
        client_secret: client.client_secret,
        token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
      }
      : { token_endpoint_auth_method: 'none' }),
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  })),
  jwks,
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: [...openidClaims], ...standard },
  conformIdTokenClaims: false,
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: config.id_token_ttl_seconds ?? 3600,
    Interaction: 600 + behind,
    Session: 3600 + behind,
    Grant: 3600 + behind,
  },
  cookies: { keys: ['prompt-manager-sso-tests'] },
  interactions: { policy },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign out</title></head>'
          + `<body>${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">`
          + 'Sign out</button></body></html>';
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('signed out', 'You are signed out.');
      },
    },
  },
  async findAccount(ctx, sub) {
    const user = usersBySub.get(sub);
    if (!user) return undefined;
    return { accountId: sub, async claims() { return { ...user.claims }; } };
  },
  // Consent without asking: a grant for everything the client asked for.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
    await grant.save();
    return grant;
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page(out.error, out.error_description ?? '');
  },
});

provider.use(async (ctx, next) => {
  if (otherJwks && ctx.method === 'GET' && ctx.path === '/jwks') {
    ctx.type = 'application/jwk-set+json; charset=utf-8';
    ctx.body = otherJwks;
    return;
  }
  const interaction = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!interaction || ctx.method !== 'GET') {
    await next();
    return;
  }
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (error) {
    ctx.status = 400;
    ctx.type = 'html';
    const reason = error.error_description ?? error.message;
    ctx.body = page('interaction_not_found', `no such sign-in in progress: ${reason}`);
    return;
  }
  const hint = details.params.login_hint;
  const user = hint && users.get(hint);
  if (!user) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page(
      'unknown_user',
      hint ? `no test user has the login ${JSON.stringify(hint)}` : 'the request has no login_hint',
    );
    return;
  }
  const result = details.prompt.name === 'login'
    ? { login: { accountId: user.claims.sub } }
    : { consent: {} };
  const to = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.redirect(to);
});

provider.on('server_error', (ctx, error) => console.error('server_error', error));

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider ready: ${config.issuer}`);
});
