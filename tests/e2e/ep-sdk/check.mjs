// Drives accountd with Elastic Path's own JS SDK (@elasticpath/js-sdk), once per signing
// algorithm: an admin gateway (client_credentials) sets up a password profile, an account, a
// member with a password and a membership; a storefront gateway (implicit, client id only) logs
// the member in, uses the account token as the SDK does for an account holder, and asks for a
// one-time password. Each run starts its own accountd on a fresh SQLite database and loopback
// port, and stops it afterwards. One line per check; exit status 1 if any check failed.
//
//   ACCOUNTD_BIN  accountd binary to test
//   WORK          a scratch directory (one database folder per algorithm goes in it)

import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createWriteStream, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const { gateway } = require("@elasticpath/js-sdk");
const sdkVersion = require("@elasticpath/js-sdk/package.json").version;

const BINARY = process.env.ACCOUNTD_BIN;
const WORK = process.env.WORK;
const ALGORITHMS = ["HS256", "EdDSA", "ES256"];
const PASSWORD = "elastic path sdk password";
const NEW_PASSWORD = "elastic path sdk password, changed";

// The SDK logs "Token status: …" through console.info before each first authentication.
console.info = () => {};

let failures = 0;
let server = null;

function check(ok, message, detail = "") {
  if (ok) {
    console.log(`  ok   ${message}`);
  } else {
    failures += 1;
    console.log(`  FAIL ${message}${detail ? `: ${detail}` : ""}`);
  }
  return ok;
}

function stopServer() {
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill("SIGINT");
  }
}
// A SIGTERM (from run.sh's cleanup or its timeout) stops accountd before this process ends.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    stopServer();
    process.exit(1);
  });
}
process.on("exit", stopServer);

async function freePort() {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address();
  probe.close();
  await once(probe, "close");
  return port;
}

async function startAccountd(algorithm, client) {
  const port = await freePort();
  const data = path.join(WORK, algorithm);
  mkdirSync(data, { recursive: true });
  const log = createWriteStream(path.join(WORK, "accountd.log"), { flags: "a" });
  await once(log, "open");
  // setpriv: accountd gets SIGTERM when this process dies, even by SIGKILL.
  server = spawn("setpriv", ["--pdeathsig", "TERM", "--", BINARY, "serve"], {
    cwd: data,
    stdio: ["ignore", log, log],
    env: {
      PATH: process.env.PATH,
      HOME: data,
      DATABASE_URL: `sqlite://${data}/accountd.db?mode=rwc`,
      ACCOUNTD_LISTEN: `127.0.0.1:${port}`,
      ACCOUNTD_MANAGEMENT_LISTEN: "off",
      ACCOUNTD_PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      ACCOUNTD_STORE_ID: randomUUID(),
      ACCOUNTD_CLIENT_ID: client.id,
      ACCOUNTD_CLIENT_SECRET: client.secret,
      ACCOUNTD_JWT_ALG: algorithm,
      ACCOUNTD_RATE_LIMIT_PER_MINUTE: "0",
      ACCOUNTD_SHUTDOWN_DRAIN: "0",
      ACCOUNTD_HASH_POOL_SIZE: "1",
      RUST_LOG: "info",
    },
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`accountd exited at start (${server.exitCode})`);
    try {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (ready.status === 200) return `127.0.0.1:${port}`;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("accountd was not ready within 30 s");
}

async function stopAccountd() {
  if (!server) return;
  const exited = once(server, "exit");
  stopServer();
  const timer = setTimeout(() => server.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
  server = null;
}

// The SDK resolves with the body only; this fetch, handed to it as `custom_fetch` (which the SDK
// uses for authentication too), keeps the status of the last answer so that a bodiless 202 can be
// checked. It refuses any address but the server under test, and bounds every request in time.
function recordingFetch(host) {
  const record = { status: null };
  record.fetch = async (url, init) => {
    if (!String(url).startsWith(`http://${host}/`)) throw new Error(`request outside the test: ${url}`);
    const answer = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
    record.status = answer.status;
    return answer;
  };
  return record;
}

// The SDK's default storage writes a ./localStorage folder under Node; credentials stay in memory.
function memoryStorage() {
  const values = new Map();
  return {
    set: (key, value) => values.set(key, value),
    get: (key) => (values.has(key) ? values.get(key) : null),
    delete: (key) => values.delete(key),
  };
}

function sdk(host, options) {
  const wire = recordingFetch(host);
  const client = gateway({
    host,
    protocol: "http",
    storage: memoryStorage(),
    disableCart: true,
    fetchMaxAttempts: 1,
    custom_fetch: wire.fetch,
    ...options,
  });
  return { client, wire };
}

function jwtPart(token, index) {
  return JSON.parse(Buffer.from(token.split(".")[index], "base64url").toString("utf8"));
}

function describe(error) {
  return error instanceof Error ? error.message : JSON.stringify(error);
}

async function step(message, action) {
  try {
    const result = await action();
    check(true, message);
    return result;
  } catch (error) {
    check(false, message, describe(error));
    throw error;
  }
}

async function storefrontAndAdmin(algorithm) {
  const client = { id: `sdk-${randomBytes(8).toString("hex")}`, secret: randomBytes(32).toString("hex") };
  const host = await startAccountd(algorithm, client);
  console.log(`accountd under ${algorithm} at ${host}`);
  const admin = sdk(host, { name: "admin", client_id: client.id, client_secret: client.secret }).client;
  const shop = sdk(host, { name: "shop", client_id: client.id });

  const adminToken = await step("admin Authenticate (client_credentials)", () => admin.Authenticate());
  check(typeof adminToken.access_token === "string" && Number.isInteger(adminToken.expires),
    "admin bearer response has access_token and epoch-second expires", JSON.stringify(adminToken));

  const settings = await step("AccountAuthenticationSettings.Get",
    () => admin.AccountAuthenticationSettings.Get());
  const realm = settings.data?.relationships?.authentication_realm?.data?.id;
  check(typeof realm === "string", "settings name the authentication realm", JSON.stringify(settings));

  const profile = (await step("PasswordProfile.Create", () => admin.PasswordProfile.Create(realm, {
    data: { type: "password_profile", name: "Elastic Path SDK", enable_one_time_password_token: true },
  }))).data.id;

  const accounts = [];
  for (const name of ["SDK Ltd", "SDK Trading"]) {
    accounts.push((await step(`Accounts.Create ${name}`, () => admin.Accounts.Create({
      type: "account", name, legal_name: `${name} (legal)`,
    }))).data.id);
  }

  const username = `sdk-${algorithm.toLowerCase()}@storefront.example`;
  const member = (await step("UserAuthenticationInfo.Create", () => admin.UserAuthenticationInfo.Create(realm, {
    data: { type: "user_authentication_info", name: "Ada Storefront", email: username },
  }))).data.id;
  const passwordInfo = (await step("UserAuthenticationPasswordProfile.Create (username + password)",
    () => admin.UserAuthenticationPasswordProfile.Create(realm, member, {
      data: {
        type: "user_authentication_password_profile_info",
        password_profile_id: profile,
        username,
        password: PASSWORD,
      },
    }))).data.id;
  for (const account of accounts) {
    await step(`AccountMemberships.Create on ${account}`, () => admin.AccountMemberships.Create(account, {
      type: "account_membership", account_member_id: member,
    }));
  }

  const login = (password) => shop.client.AccountMembers.GenerateAccountToken({
    type: "account_management_authentication_token",
    authentication_mechanism: "password",
    password_profile_id: profile,
    username,
    password,
  });
  const tokens = await step("storefront (implicit) AccountMembers.GenerateAccountToken, password",
    () => login(PASSWORD));
  const shopCredentials = shop.client.credentials();
  check(shopCredentials?.identifier === "implicit", "the storefront gateway authenticated with the implicit grant",
    JSON.stringify(shopCredentials?.identifier));
  const list = tokens.data ?? [];
  const tokenAccounts = list.map((token) => token.account_id).sort();
  check(list.length === accounts.length && JSON.stringify(tokenAccounts) === JSON.stringify([...accounts].sort()),
    "one account token per account", JSON.stringify(tokenAccounts));
  for (const token of list) {
    check(token.type === "account_management_authentication_token",
      `token for ${token.account_id} has type account_management_authentication_token`, token.type);
    const expires = new Date(token.expires);
    check(typeof token.expires === "string" && !Number.isNaN(expires.getTime()) && expires > new Date(),
      `token for ${token.account_id}: new Date(expires) is a future date`, String(token.expires));
    const header = jwtPart(token.token, 0);
    check(header.alg === algorithm, `token for ${token.account_id} is signed with ${algorithm}`,
      JSON.stringify(header));
    check(jwtPart(token.token, 1).sub === member, `token for ${token.account_id} names the member`);
  }
  const accountToken = list.find((token) => token.account_id === accounts[0])?.token;
  if (!accountToken) throw new Error("no account token for the first account");

  // Account-holder calls: the SDK's Update takes the account token as its sixth argument; other
  // methods take it through the gateway's `headers` option.
  const holder = sdk(host, {
    name: "holder",
    client_id: client.id,
    headers: { "EP-Account-Management-Authentication-Token": accountToken },
  }).client;
  const own = await step("account holder Accounts.Get (EP-Account-Management-Authentication-Token)",
    () => holder.Accounts.Get(accounts[0]));
  check(own.data?.id === accounts[0] && own.data?.name === "SDK Ltd", "the account holder reads its account",
    JSON.stringify(own.data));
  try {
    await holder.Accounts.Get(accounts[1]);
    check(false, "the first account's token does not read the second account", "answered 2xx");
  } catch (error) {
    check(Array.isArray(error?.errors) && [403, 404].includes(Number(error.errors[0]?.status)),
      "the first account's token does not read the second account", describe(error));
  }

  const changePassword = () => shop.client.UserAuthenticationPasswordProfile.Update(realm, member, passwordInfo, {
    data: { type: "user_authentication_password_profile_info", password: NEW_PASSWORD },
  }, null, accountToken);
  try {
    await changePassword();
    check(false, "self-management disabled: the password change is refused", "answered 2xx");
  } catch (error) {
    check(Number(error?.errors?.[0]?.status) === 403,
      "self-management disabled: the password change is refused (403)", describe(error));
  }
  const enabled = await step("admin AccountAuthenticationSettings.Update enables self-management",
    () => admin.AccountAuthenticationSettings.Update({ account_member_self_management: "update_only" }));
  check(enabled.data?.account_member_self_management === "update_only", "self-management is update_only",
    JSON.stringify(enabled.data));
  await step("account holder UserAuthenticationPasswordProfile.Update(…, accountToken) changes the password",
    changePassword);
  check(shop.wire.status === 200, "password change answered 200", String(shop.wire.status));
  try {
    await login(PASSWORD);
    check(false, "the old password is refused", "answered 2xx");
  } catch (error) {
    check(Number(error?.errors?.[0]?.status) === 400 && error.errors[0].detail === "authentication failed",
      "the old password is refused (400 authentication failed)", describe(error));
  }
  const again = await step("the new password logs in", () => login(NEW_PASSWORD));
  check((again.data ?? []).length === accounts.length, "one account token per account after the change");

  await step("storefront OneTimePasswordTokenRequest.Create", () => shop.client.OneTimePasswordTokenRequest.Create(
    realm, profile, {
      type: "one_time_password_token_request", username, purpose: "passwordless_authentication",
    }));
  check(shop.wire.status === 202, "one-time password request answered 202", String(shop.wire.status));

  await stopAccountd();
}

async function main() {
  console.log(`@elasticpath/js-sdk ${sdkVersion}`);
  for (const algorithm of ALGORITHMS) {
    try {
      await storefrontAndAdmin(algorithm);
    } catch (error) {
      check(false, `${algorithm}: run stopped`, describe(error));
      await stopAccountd();
    }
  }
  if (failures > 0) {
    console.log(`${failures} check(s) failed`);
    process.exit(1);
  }
}

await main();
