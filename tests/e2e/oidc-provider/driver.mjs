// Plays admin, storefront and browser against a running accountd and oidc-provider:
// sets the realm up, creates the OIDC profile, registers accountd at the provider, walks the
// browser flow by hand (every redirect followed manually, cookies kept for the provider), and
// redeems accountd's code for account tokens. Exits non-zero on the first surprise.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const ACCOUNTD = process.env.ACCOUNTD_URL;
const ISSUER = process.env.PROVIDER_ISSUER;
const CLIENT_ID = process.env.ACCOUNTD_CLIENT_ID;
const CLIENT_SECRET = process.env.ACCOUNTD_CLIENT_SECRET;
const STOREFRONT = 'http://127.0.0.1:9/storefront/callback';

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const step = (message) => console.log(`  - ${message}`);

async function json(method, path, { bearer, accountToken, body } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (accountToken) headers['ep-account-management-authentication-token'] = accountToken;
  const response = await fetch(`${ACCOUNTD}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function bearer(grant) {
  const form = new URLSearchParams({ grant_type: grant, client_id: CLIENT_ID });
  if (grant === 'client_credentials') form.set('client_secret', CLIENT_SECRET);
  const response = await fetch(`${ACCOUNTD}/oauth/access_token`, { method: 'POST', body: form });
  assert.equal(response.status, 200, `${grant} bearer token`);
  return (await response.json()).access_token;
}

// A browser: follows nothing by itself, keeps the provider's cookies.
const jar = new Map();
async function browse(url, { method = 'GET', form } = {}) {
  const target = new URL(url);
  const headers = {};
  if (target.origin === new URL(ISSUER).origin && jar.size > 0) {
    headers.cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  let body;
  if (form) {
    body = new URLSearchParams(form);
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  const response = await fetch(target, { method, headers, body, redirect: 'manual' });
  if (target.origin === new URL(ISSUER).origin) {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const index = pair.indexOf('=');
      jar.set(pair.slice(0, index).trim(), pair.slice(index + 1));
    }
  }
  const text = await response.text();
  const location = response.headers.get('location');
  return {
    status: response.status,
    text,
    location: location ? new URL(location, target).toString() : null,
  };
}

// From accountd's login link to the storefront callback, through the provider's own login
// (and consent) pages. Returns the storefront callback URL.
async function loginThroughBrowser(loginUrl, user) {
  let reply = await browse(loginUrl);
  assert.equal(reply.status, 303, `accountd login endpoint: ${reply.text}`);
  assert.ok(reply.location.startsWith(`${ISSUER}/`), `sent to the provider: ${reply.location}`);
  const authorize = new URL(reply.location);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authorize.searchParams.get('scope'), 'openid email profile');
  assert.ok(authorize.searchParams.get('nonce'));
  let url = reply.location;
  for (let hops = 0; hops < 12; hops += 1) {
    if (url.startsWith(STOREFRONT)) return url;
    reply = await browse(url);
    if (reply.status === 200 && new URL(url).pathname.startsWith('/interaction/')) {
      // The provider's development login and consent forms post back to the same URL.
      const prompt = /name="prompt" value="(\w+)"/.exec(reply.text)?.[1];
      assert.ok(prompt, `an interaction form at ${url}`);
      const form = prompt === 'login'
        ? { prompt, login: user, password: 'any password' }
        : { prompt };
      step(`provider ${prompt} form submitted`);
      reply = await browse(url, { method: 'POST', form });
    }
    assert.ok([302, 303].includes(reply.status), `a redirect from ${url}: ${reply.status} ${reply.text}`);
    url = reply.location;
  }
  throw new Error('the browser flow did not come back to the storefront');
}

async function main() {
  const admin = await bearer('client_credentials');
  const shopper = await bearer('implicit');
  const settings = await json('GET', '/v2/settings/account-authentication', { bearer: shopper });
  const realm = settings.body.data.relationships.authentication_realm.data.id;
  const clientId = settings.body.data.meta.client_id;
  assert.equal(clientId, 'account-management');
  step(`realm ${realm}`);

  let reply = await json('PUT', `/v2/authentication-realms/${realm}`, {
    bearer: admin,
    body: { data: { type: 'authentication-realm', redirect_uris: [STOREFRONT] } },
  });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  reply = await json('PUT', '/v2/settings/account-authentication', {
    bearer: admin,
    body: { data: { type: 'account_authentication_settings', auto_create_account_for_account_members: true } },
  });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));

  // The same provider under another name: its discovery document names the issuer
  // http://127.0.0.1:…, not http://localhost:…, so accountd refuses it (OpenID Connect
  // Discovery section 4.3), and the profile under the issuer's own URL below passes the same check.
  const elsewhere = new URL(ISSUER);
  elsewhere.hostname = 'localhost';
  reply = await json('POST', `/v2/authentication-realms/${realm}/oidc-profiles`, {
    bearer: admin,
    body: {
      data: {
        type: 'oidc-profile',
        name: 'oidc-provider under another name',
        discovery_url: `${elsewhere.origin}/.well-known/openid-configuration`,
        client_id: 'pending',
        client_secret: 'pending',
      },
    },
  });
  assert.equal(reply.status, 422, JSON.stringify(reply.body));
  assert.equal(reply.body.errors[0].detail, 'issuer does not match the discovery URL');
  step('a discovery URL that is not the issuer\'s own is refused');

  // The profile first (accountd fetches discovery now), then the client at the provider for the
  // profile's callback, then the profile gets the real credentials.
  reply = await json('POST', `/v2/authentication-realms/${realm}/oidc-profiles`, {
    bearer: admin,
    body: {
      data: {
        type: 'oidc-profile',
        name: 'oidc-provider',
        discovery_url: `${ISSUER}/.well-known/openid-configuration`,
        client_id: 'pending',
        client_secret: 'pending',
      },
    },
  });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  const profile = reply.body.data;
  assert.equal(profile.meta.issuer, ISSUER);
  assert.equal(`${profile.meta.issuer}/.well-known/openid-configuration`, profile.discovery_url);
  assert.equal(profile.allow_unverified_email, false);
  assert.equal(profile.client_secret, undefined);
  step(`OIDC profile ${profile.id}, issuer ${profile.meta.issuer}`);

  const registration = await fetch(`${ISSUER}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [profile.links['callback-endpoint']],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      application_type: 'web',
    }),
  });
  assert.equal(registration.status, 201, await registration.clone().text());
  const client = await registration.json();
  // run.sh checks afterwards that this secret never reached accountd's log.
  writeFileSync(process.env.SECRET_FILE, client.client_secret);
  reply = await json('PUT', `/v2/authentication-realms/${realm}/oidc-profiles/${profile.id}`, {
    bearer: admin,
    body: { data: { type: 'oidc-profile', client_id: client.client_id, client_secret: client.client_secret } },
  });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.ok(!JSON.stringify(reply.body).includes(client.client_secret));
  step(`registered at the provider as ${client.client_id}`);

  let memberId;
  for (const attempt of ['first', 'second']) {
    const verifier = b64url(randomBytes(32));
    const challenge = b64url(createHash('sha256').update(verifier).digest());
    const state = b64url(randomBytes(16));
    const loginUrl = new URL(profile.links['authorization-endpoint']);
    for (const [name, value] of Object.entries({
      client_id: clientId,
      redirect_uri: STOREFRONT,
      response_type: 'code',
      scope: 'openid email',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })) loginUrl.searchParams.set(name, value);

    const back = new URL(await loginThroughBrowser(loginUrl.toString(), 'alice'));
    assert.equal(back.searchParams.get('state'), state);
    assert.equal(back.searchParams.get('error'), null, back.toString());
    const code = back.searchParams.get('code');
    assert.ok(code, 'accountd put its code on the storefront callback');
    step(`${attempt} login: back at the storefront with accountd's code`);

    reply = await json('POST', '/v2/account-members/tokens', {
      bearer: shopper,
      body: {
        data: {
          type: 'account_management_authentication_token',
          authentication_mechanism: 'oidc',
          oauth_authorization_code: code,
          oauth_redirect_uri: STOREFRONT,
          oauth_code_verifier: verifier,
        },
      },
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    assert.equal(reply.body.data.length, 1, 'one token for the auto-created account');
    const [token] = reply.body.data;
    assert.equal(token.account_name, 'E2E alice');
    if (memberId) assert.equal(reply.body.meta.account_member_id, memberId, 'the same member');
    memberId = reply.body.meta.account_member_id;

    const member = await json('GET', `/v2/account-members/${memberId}`, {
      bearer: shopper,
      accountToken: token.token,
    });
    assert.equal(member.status, 200, JSON.stringify(member.body));
    assert.equal(member.body.data.email, 'alice@e2e.example.com');
    step(`${attempt} login: account token works for member ${memberId}`);

    // The code is single use.
    reply = await json('POST', '/v2/account-members/tokens', {
      bearer: shopper,
      body: {
        data: {
          type: 'account_management_authentication_token',
          authentication_mechanism: 'oidc',
          oauth_authorization_code: code,
          oauth_redirect_uri: STOREFRONT,
          oauth_code_verifier: verifier,
        },
      },
    });
    assert.equal(reply.status, 400);
  }
  console.log('e2e OIDC login against oidc-provider: OK');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
