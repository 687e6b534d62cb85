// The admin console walked through in a real headless Chromium (Debian's, driven by
// playwright-core), once on SQLite and once on PostgreSQL: sign in; create an account and a child;
// create the first password profile and a member with a password, and add and remove memberships;
// log the member in through the API and find the login on the dashboard and in the audit trail;
// lock the member out with five wrong passwords and clear the lockout; revoke its tokens and see
// the API refuse the old one; edit and delete an account; create an application key and delete
// it; see forms without their CSRF token refused; visit every page of the navigation. Every page
// the walk reaches is checked with axe-core (no serious or critical violation) and saved as a
// full-page screenshot. Each backend gets its own
// accountd on a loopback port, stopped afterwards. One line per check; exit status 1 if any
// check failed.
//
//   ACCOUNTD_BIN   accountd binary to test
//   WORK           scratch directory (one SQLite database folder, the accountd logs)
//   OUT            where the screenshots go, one folder per backend
//   POSTGRES_URL   an empty PostgreSQL database for the second run
//   CHROMIUM       the browser executable

import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createWriteStream, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const playwrightVersion = require("playwright-core/package.json").version;
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const axeVersion = require("axe-core/package.json").version;

const BINARY = process.env.ACCOUNTD_BIN;
const WORK = process.env.WORK;
const OUT = process.env.OUT;
const CHROMIUM = process.env.CHROMIUM;
const BACKENDS = [
  { name: "sqlite", url: (data) => `sqlite://${data}/accountd.db?mode=rwc` },
  { name: "postgres", url: () => process.env.POSTGRES_URL },
];

// Bounds: every browser action and navigation, every API request, and each step as a whole, so a
// page that never answers fails its step instead of hanging the run.
const ACTION_MS = 10_000;
const NAVIGATION_MS = 15_000;
const API_MS = 10_000;
const STEP_MS = 60_000;

const PASSWORD = "a walk through the console";
const PROFILE_NAME = "Storefront logins";
const WRONG_PASSWORD = "not the member's password";
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

let failures = 0;
let server = null;
let browser = null;

function check(ok, message, detail = "") {
  if (ok) {
    console.log(`  ok   ${message}`);
  } else {
    failures += 1;
    console.log(`  FAIL ${message}${detail ? `: ${detail}` : ""}`);
  }
  return ok;
}

function note(message) {
  console.log(`  note ${message}`);
}

/// A step that cannot run because an earlier one failed: printed, not counted again.
class Skip extends Error {}

function need(value, what) {
  if (value === undefined || value === null) throw new Skip(`needs ${what}, which an earlier step did not give`);
  return value;
}

function describe(error) {
  if (!(error instanceof Error)) return JSON.stringify(error);
  // Playwright's messages carry a call log after the first line; the first lines say enough.
  return error.message.split("\n").slice(0, 3).join(" | ");
}

function within(ms, what, promise) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/// Runs one step of the walk; its checks print themselves. A failure (an exception) is printed
/// and counted, and the walk goes on with the next step, which skips if it needs what this one
/// did not give.
async function step(name, action) {
  console.log(`- ${name}`);
  try {
    return await within(STEP_MS, name, action());
  } catch (error) {
    if (error instanceof Skip) {
      console.log(`  skip ${name}: ${error.message}`);
    } else {
      check(false, name, describe(error));
    }
    return undefined;
  }
}

// --- accountd ---------------------------------------------------------------------------------

function stopServer() {
  if (server && server.exitCode === null && server.signalCode === null) server.kill("SIGINT");
}

async function freePort() {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address();
  probe.close();
  await once(probe, "close");
  return port;
}

async function startAccountd(backend, client) {
  const port = await freePort();
  const data = path.join(WORK, backend.name);
  mkdirSync(data, { recursive: true });
  const log = createWriteStream(path.join(WORK, "accountd.log"), { flags: "a" });
  await once(log, "open");
  log.write(`--- ${backend.name}\n`);
  // setpriv: accountd gets SIGTERM when this process dies, even by SIGKILL.
  server = spawn("setpriv", ["--pdeathsig", "TERM", "--", BINARY, "serve"], {
    cwd: data,
    stdio: ["ignore", log, log],
    env: {
      PATH: process.env.PATH,
      HOME: data,
      DATABASE_URL: backend.url(data),
      ACCOUNTD_LISTEN: `127.0.0.1:${port}`,
      ACCOUNTD_MANAGEMENT_LISTEN: "off",
      ACCOUNTD_CONSOLE: "true",
      ACCOUNTD_PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      ACCOUNTD_STORE_ID: randomUUID(),
      // The bootstrap application key: the console signs in with it, the API setup uses it.
      ACCOUNTD_CLIENT_ID: client.id,
      ACCOUNTD_CLIENT_SECRET: client.secret,
      // The walk signs in and logs in from one address many times; the per-address limit is
      // the hostile suite's subject, not this one's. The login throttle stays on.
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
      if (ready.status === 200) return `http://127.0.0.1:${port}`;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("accountd was not ready within 30 s");
}

async function stopAccountd() {
  if (!server) return;
  if (server.exitCode === null && server.signalCode === null) {
    const exited = once(server, "exit");
    stopServer();
    const timer = setTimeout(() => server.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }
  server = null;
}

// --- the API, for what the walk does as a storefront would and for setting up -----------------

function api(base) {
  const call = async (method, route, { bearer, body, accountToken } = {}) => {
    const headers = {};
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (accountToken) headers["ep-account-management-authentication-token"] = accountToken;
    if (body !== undefined) headers["content-type"] = "application/json";
    const answer = await fetch(`${base}${route}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(API_MS),
    });
    const text = await answer.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: kept as text for the message
    }
    return { status: answer.status, json, text };
  };
  const token = async (form) => {
    const answer = await fetch(`${base}/oauth/access_token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
      signal: AbortSignal.timeout(API_MS),
    });
    if (answer.status !== 200) throw new Error(`/oauth/access_token answered ${answer.status}`);
    return (await answer.json()).access_token;
  };
  return { call, token };
}

function expectStatus(answer, status, what) {
  if (answer.status !== status) {
    throw new Error(`${what} answered ${answer.status}, not ${status}: ${answer.text.slice(0, 300)}`);
  }
  return answer.json;
}

// --- pages ------------------------------------------------------------------------------------

/// What a walk keeps per backend: the browser page, and the screenshots already taken.
function pageKeeper(page, folder) {
  const policyViolations = [];
  page.on("console", (message) => {
    if (/Content[- ]Security[- ]Policy/i.test(message.text())) policyViolations.push(message.text());
  });
  return { page, folder, policyViolations };
}

/// Checks the page the browser shows now with axe-core and saves its screenshot as `name`.png.
/// axe is evaluated through the DevTools protocol (page.evaluate), which the page's
/// Content-Security-Policy does not govern: a `<script>` tag (page.addScriptTag) would be refused
/// by `default-src 'self'`, and `bypassCSP` would switch the policy off for the whole walk,
/// hiding a page that breaks under it; pages answering a POST could not be reloaded in a second
/// context. The policy stays in force, and any violation it reports fails the page.
async function look(keeper, name) {
  const { page } = keeper;
  const title = await page.title().catch(() => "?");
  try {
    if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
    const results = await within(30_000, `axe on ${name}`, page.evaluate(() =>
      window.axe.run(document, { resultTypes: ["violations"] })));
    const grave = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    const detail = grave.map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.slice(0, 3)
      .map((node) => node.target.join(" ")).join(", ")}`).join("; ");
    check(grave.length === 0, `axe: ${name} (${title}) has no serious or critical violation`, detail);
    for (const v of grave) {
      for (const node of v.nodes.slice(0, 5)) console.log(`         ${v.id}: ${node.html.slice(0, 160)}`);
    }
  } catch (error) {
    check(false, `axe: ${name} (${title}) ran`, describe(error));
  }
  const violations = keeper.policyViolations.splice(0);
  check(violations.length === 0, `${name}: nothing refused by the Content-Security-Policy`, violations.join("; "));
  try {
    await page.screenshot({ path: path.join(keeper.folder, `${name}.png`), fullPage: true, timeout: ACTION_MS });
  } catch (error) {
    check(false, `screenshot ${name}.png`, describe(error));
  }
}

/// The main frame's final answer (after redirects) to whatever `action` starts.
async function navigation(page, action) {
  const answered = page.waitForResponse((response) => response.request().isNavigationRequest()
    && response.frame() === page.mainFrame()
    && !(response.status() >= 300 && response.status() < 400), { timeout: NAVIGATION_MS });
  // Keeps an unawaited rejection from ending the process when `action` throws first.
  answered.catch(() => {});
  await action();
  const response = await answered;
  await page.waitForLoadState("load", { timeout: NAVIGATION_MS });
  return response;
}

/// Opens `url`; anything but a 200 page ends the step, naming the address and its status.
async function open(page, url) {
  const response = await page.goto(url, { timeout: NAVIGATION_MS });
  if (response.status() !== 200) {
    throw new Error(`GET ${new URL(url).pathname} answered ${response.status()} (${await page.title()})`);
  }
  return response;
}

/// The first element `locator` finds, or an error naming what is missing at once: the pages are
/// rendered on the server, so what is not there once the page has loaded never comes, and
/// waiting for it would only spend the step's time.
async function one(locator, what) {
  if ((await locator.count()) === 0) throw new Error(`${what} is not on ${new URL(locator.page().url()).pathname}`);
  return locator.first();
}

/// A form field of the page's main content that a person fills in, by its name (hidden inputs,
/// such as the one naming the membership a "Remove" button removes, are not).
function field(page, name) {
  return one(page.locator(`main [name="${name}"]:not([type="hidden"])`), `the field "${name}"`);
}

async function fill(page, name, value) {
  await (await field(page, name)).fill(value);
}

/// Presses the submit button named `name` (in `scope`, the page by default) and waits for the page
/// that answers. `name` is the accessible name: the text, or a regular expression where an
/// aria-label says more than the text (a table's "Remove" buttons name what they remove).
async function press(page, name, scope = page) {
  const target = await one(scope.getByRole("button", { name, exact: true }), `the button "${name}"`);
  return navigation(page, () => target.click({ timeout: ACTION_MS }));
}

/// Follows the link named `name` (in `scope`, the page by default) and waits for the page.
async function follow(page, name, scope = page) {
  const target = await one(scope.getByRole("link", { name, exact: true }), `the link "${name}"`);
  return navigation(page, () => target.click({ timeout: ACTION_MS }));
}

/// The text of the first element `locator` finds, white space folded, or null without waiting.
async function textOf(locator) {
  if ((await locator.count()) === 0) return null;
  return (await locator.first().innerText({ timeout: ACTION_MS })).replace(/\s+/g, " ").trim();
}

async function h1(page) {
  return (await page.locator("h1").first().textContent({ timeout: ACTION_MS }))?.trim();
}

function idIn(url, collection) {
  const match = new URL(url).pathname.match(new RegExp(`^/admin/${collection}/(${UUID})$`));
  return match ? match[1] : null;
}

/// The text of the section that the heading `name` opens (its parent element).
async function sectionText(page, name) {
  const heading = await one(page.getByRole("heading", { name, exact: true }), `the heading "${name}"`);
  return textOf(heading.locator("xpath=.."));
}

function notice(page) {
  return textOf(page.locator('p.notice[role="status"]'));
}

// --- the walk ---------------------------------------------------------------------------------

async function walk(backend) {
  const client = { id: `console-${randomBytes(8).toString("hex")}`, secret: randomBytes(32).toString("hex") };
  const base = await startAccountd(backend, client);
  console.log(`accountd on ${backend.name} at ${base}`);
  const { call, token } = api(base);
  const folder = path.join(OUT, backend.name);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });

  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: "en-GB",
    colorScheme: "light",
  });
  const page = await context.newPage();
  page.setDefaultTimeout(ACTION_MS);
  page.setDefaultNavigationTimeout(NAVIGATION_MS);
  const keeper = pageKeeper(page, folder);
  const s = {};
  const suffix = randomBytes(3).toString("hex");

  try {
    await step("the API as a storefront and an admin call it: bearer tokens and the realm", async () => {
      s.admin = await token({ grant_type: "client_credentials", client_id: client.id, client_secret: client.secret });
      s.shop = await token({ grant_type: "implicit", client_id: client.id });
      const settings = expectStatus(await call("GET", "/v2/settings/account-authentication", { bearer: s.admin }),
        200, "GET /v2/settings/account-authentication");
      s.realm = settings.data.relationships.authentication_realm.data.id;
      check(typeof s.realm === "string", `the store's realm is ${s.realm}`);
    });

    await step("sign in", async () => {
      await open(page, `${base}/admin`);
      check(new URL(page.url()).pathname === "/admin/sign-in", "/admin without a session leads to the sign-in page",
        page.url());
      await look(keeper, "sign-in");

      await fill(page, "client_id", client.id);
      await fill(page, "client_secret", "not-the-secret-of-this-key-0123456789");
      const refused = await press(page, "Sign in");
      const alert = await page.getByRole("alert").allInnerTexts();
      check(refused.status() >= 400 && alert.length > 0, "a wrong secret is refused with a message",
        `${refused.status()} ${alert.join(" ")}`);
      const html = await page.content();
      check(!html.includes("not-the-secret-of-this-key"), "the refused secret is not shown again");
      await look(keeper, "sign-in-refused");

      await fill(page, "client_secret", client.secret);
      const answer = await press(page, "Sign in");
      check(answer.status() === 200 && new URL(page.url()).pathname === "/admin",
        "the right secret signs in and shows the dashboard", `${answer.status()} ${page.url()}`);
      const cookies = await context.cookies(`${base}/admin`);
      const session = cookies.find((cookie) => cookie.name === "accountd_console");
      check(session?.httpOnly === true && session?.sameSite === "Strict" && session?.path === "/admin",
        "the session cookie is HttpOnly, SameSite=Strict, Path=/admin", JSON.stringify(session));
      await look(keeper, "dashboard-signed-in");
      s.signedIn = true;
    });

    await step("create an account", async () => {
      need(s.signedIn, "a signed-in session");
      const list = await follow(page, "Accounts", page.getByRole("navigation", { name: "Console" }));
      check(list.status() === 200 && new URL(page.url()).pathname === "/admin/accounts",
        "the masthead's Accounts link shows the accounts", `${list.status()} ${page.url()}`);
      await look(keeper, "accounts-empty");
      await open(page, `${base}/admin/accounts/new`);
      await look(keeper, "account-new");
      // A name of spaces passes the browser's `required` and reaches the API as no name (the
      // console trims fields), which refuses it; the form says why beside the field.
      await fill(page, "name", "   ");
      const refused = await press(page, "Create the account");
      const message = await textOf(page.locator("#name-error"));
      check(refused.status() >= 400 && refused.status() < 500 && message !== null && !message.includes("{"),
        "without a name the form comes back with a readable message beside the name",
        `${refused.status()} ${message}`);
      await look(keeper, "account-new-refused");
      s.parentName = `Walkthrough Trading ${suffix}`;
      await fill(page, "name", s.parentName);
      await fill(page, "legal_name", `Walkthrough Trading ${suffix} Limited`);
      await fill(page, "external_ref", `walk-${suffix}`);
      const created = await press(page, "Create the account");
      s.parent = idIn(page.url(), "accounts");
      check(created.status() === 200 && s.parent !== null, "Create the account shows the new account's page",
        `${created.status()} ${page.url()}`);
      check((await h1(page)) === s.parentName, "the account page is titled with its name", await h1(page));
      const stored = expectStatus(await call("GET", `/v2/accounts/${need(s.parent, "the account")}`, { bearer: s.admin }),
        200, "GET the account");
      check(stored.data.legal_name === `Walkthrough Trading ${suffix} Limited`,
        "the API has the account with its legal name", JSON.stringify(stored.data));
      await look(keeper, "account");
    });

    await step("create a child account", async () => {
      need(s.parent, "the parent account");
      await open(page, `${base}/admin/accounts/${s.parent}`);
      await follow(page, "Create a child account");
      check(await (await field(page, "parent_id")).inputValue() === s.parent,
        "Create a child account fills in the parent id");
      s.childName = `Walkthrough Trading ${suffix} North`;
      await fill(page, "name", s.childName);
      await fill(page, "legal_name", `Walkthrough Trading ${suffix} North Limited`);
      const created = await press(page, "Create the account");
      s.child = idIn(page.url(), "accounts");
      check(created.status() === 200 && s.child !== null, "the child account's page is shown",
        `${created.status()} ${page.url()}`);
      const crumbs = await textOf(page.getByRole("navigation", { name: "Ancestors" }));
      check(crumbs.includes(s.parentName), "its breadcrumbs name the parent", crumbs);
      await look(keeper, "child-account");
      await open(page, `${base}/admin/accounts/${s.parent}`);
      const children = await sectionText(page, "Child accounts");
      check(children.includes(s.childName), "the parent's Child accounts section lists the child", children);
      const stored = expectStatus(await call("GET", `/v2/accounts/${need(s.child, "the child account")}`, { bearer: s.admin }),
        200, "GET the child account");
      check(stored.data.parent_id === s.parent, "the API has the child under the parent", JSON.stringify(stored.data));
    });

    await step("search the accounts with a filter", async () => {
      need(s.child, "the child account");
      await open(page, `${base}/admin/accounts`);
      await fill(page, "filter", `ilike(name,*${suffix} north*)`);
      const answer = await press(page, "Search");
      const main = page.locator("main");
      const hasChild = await main.locator(`a[href="/admin/accounts/${s.child}"]`).count();
      const hasParent = await main.locator(`a[href="/admin/accounts/${s.parent}"]`).count();
      check(answer.status() === 200 && hasChild > 0 && hasParent === 0,
        "ilike(name,*… north*) finds the child and not the parent", `${answer.status()} child ${hasChild} parent ${hasParent}`);
      await look(keeper, "accounts");
    });

    await step("create a member with a password (and the store's first password profile)", async () => {
      need(s.signedIn, "a signed-in session");
      need(s.realm, "the realm");
      s.memberName = "Ada Walkthrough";
      s.email = `ada.${suffix}@walkthrough.example`;
      const profiles = async () => expectStatus(await call("GET",
        `/v2/authentication-realms/${s.realm}/password-profiles`, { bearer: s.admin }), 200, "GET password-profiles").data;
      try {
        await open(page, `${base}/admin/members`);
        await look(keeper, "members");
        await open(page, `${base}/admin/members/new`);
        // A fresh store has no password profile: the member form offers to create the first.
        await look(keeper, "password-profile-new");
        await fill(page, "name", PROFILE_NAME);
        const made = await press(page, "Create the password profile");
        check(made.status() === 200 && new URL(page.url()).pathname === "/admin/members/new",
          "Create the password profile leads back to the member form", `${made.status()} ${page.url()}`);
      } catch (error) {
        check(false, "create the first password profile in the console", describe(error));
      }
      s.profile = (await profiles()).find((profile) => profile.name === PROFILE_NAME)?.id;
      if (s.profile) {
        check(true, `the API has the password profile ${PROFILE_NAME}`);
      } else {
        note("the password profile is created through the API instead, for the steps that follow");
        s.profile = expectStatus(await call("POST", `/v2/authentication-realms/${s.realm}/password-profiles`, {
          bearer: s.admin, body: { data: { type: "password_profile", name: PROFILE_NAME } },
        }), 201, "POST password-profiles").data.id;
      }
      try {
        await open(page, `${base}/admin/members/new`);
        await look(keeper, "member-new");
        // The select's options are profile ids (`password_profile_id`), or realm/profile pairs
        // (`password_profile`) where a page offers several realms.
        const byId = await page.locator('main select[name="password_profile_id"]').count();
        if (byId > 0) {
          await (await field(page, "password_profile_id")).selectOption(s.profile);
        } else {
          await (await field(page, "password_profile")).selectOption(`${s.realm}/${s.profile}`);
        }
        await fill(page, "name", s.memberName);
        await fill(page, "email", s.email);
        await fill(page, "password", PASSWORD);
        const created = await press(page, "Create the member");
        s.member = idIn(page.url(), "members");
        check(created.status() === 200 && s.member !== null, "Create the member shows the member's page",
          `${created.status()} ${page.url()}`);
        await look(keeper, "member");
      } catch (error) {
        check(false, "create the member in the console", describe(error));
      }
      if (!s.member) {
        // The later steps are about more than this page; they get their member from the API.
        note("the member is created through the API instead, for the steps that follow");
        s.member = expectStatus(await call("POST", `/v2/authentication-realms/${s.realm}/user-authentication-info`, {
          bearer: s.admin, body: { data: { type: "user_authentication_info", name: s.memberName, email: s.email } },
        }), 201, "POST user-authentication-info").data.id;
        expectStatus(await call("POST",
          `/v2/authentication-realms/${s.realm}/user-authentication-info/${s.member}/user-authentication-password-profile-info`, {
            bearer: s.admin,
            body: { data: {
              type: "user_authentication_password_profile_info", password_profile_id: s.profile,
              username: s.email, password: PASSWORD,
            } },
          }), 201, "POST user-authentication-password-profile-info");
        return;
      }
      const stored = expectStatus(await call("GET", `/v2/account-members/${s.member}`, { bearer: s.admin }),
        200, "GET the account member");
      check(stored.data.email === s.email && stored.data.name === s.memberName,
        "the API has the member with its name and email", JSON.stringify(stored.data));
      await open(page, `${base}/admin/members`);
      await fill(page, "filter", `ilike(email,*${suffix}*)`);
      const found = await press(page, "Search");
      const listed = await page.locator(`main a[href="/admin/members/${s.member}"]`).count();
      check(found.status() === 200 && listed > 0, "the members search finds the member by email",
        `${found.status()} ${listed}`);
    });

    await step("add the memberships (from the account's side and from the member's)", async () => {
      need(s.member, "the member");
      need(s.parent, "the account");
      try {
        await open(page, `${base}/admin/accounts/${s.parent}`);
        await fill(page, "account_member_id", s.member);
        const added = await press(page, "Add member");
        const members = await sectionText(page, "Members");
        const linked = await page.locator(`main a[href="/admin/members/${s.member}"]`).count();
        check(added.status() === 200 && linked > 0,
          "Add member on the account page lists the member under Members", `${added.status()} ${members}`);
        await look(keeper, "account-with-member");
      } catch (error) {
        check(false, "add the member on the account page", describe(error));
      }
      const memberships = async () => expectStatus(await call("GET", `/v2/accounts/${s.parent}/account-memberships`,
        { bearer: s.admin }), 200, "GET account-memberships").data;
      if (!(await memberships()).some((m) => m.account_member_id === s.member
        || m.relationships?.account_member?.data?.id === s.member)) {
        note("the membership is added through the API instead, for the steps that follow");
        expectStatus(await call("POST", `/v2/accounts/${s.parent}/account-memberships`, {
          bearer: s.admin, body: { data: { type: "account_membership", account_member_id: s.member } },
        }), 201, "POST account-memberships");
      } else {
        check(true, "the API lists the membership");
      }

      need(s.child, "the child account");
      await open(page, `${base}/admin/members/${s.member}`);
      await fill(page, "account_id", s.child);
      const added = await press(page, "Add to account");
      const linked = await page.locator(`main a[href="/admin/accounts/${s.child}"]`).count();
      check(added.status() === 200 && linked > 0, "Add to account on the member page lists the child account",
        `${added.status()} ${await sectionText(page, "Memberships").catch(() => "")}`);
      await look(keeper, "member-with-memberships");

      await open(page, `${base}/admin/accounts/${s.child}`);
      const row = page.locator("tr", { has: page.locator(`a[href="/admin/members/${s.member}"]`) });
      const removed = await press(page, /^Remove\b/, row);
      const still = await page.locator(`main a[href="/admin/members/${s.member}"]`).count();
      check(removed.status() === 200 && still === 0, "Remove on the child account's page removes the member",
        `${removed.status()} ${still}`);
    });

    await step("log the member in through the API; the dashboard shows it", async () => {
      need(s.member, "the member");
      const login = await call("POST", "/v2/account-members/tokens", {
        bearer: s.shop,
        body: { data: {
          type: "account_management_authentication_token", authentication_mechanism: "password",
          password_profile_id: s.profile, username: s.email, password: PASSWORD,
        } },
      });
      const tokens = expectStatus(login, 201, "POST /v2/account-members/tokens").data;
      s.accountToken = tokens.find((t) => t.account_id === s.parent)?.token;
      check(typeof s.accountToken === "string", "the login gives a token for the account",
        JSON.stringify(tokens.map((t) => t.account_id)));

      await open(page, `${base}/admin`);
      const summary = await textOf(page.locator("#logins-summary"));
      const counts = summary?.match(/(\d+)\s+succeeded,\s*(\d+)\s+failed,\s*(\d+)\s+throttled/);
      check(counts !== null && counts !== undefined && Number(counts[1]) >= 1,
        "the dashboard's #logins-summary counts at least one succeeded login", String(summary));
      const chart = page.locator('figure svg[role="img"]');
      check((await chart.count()) > 0 && (await chart.first().locator("title").count()) > 0,
        "the dashboard draws the logins chart as an SVG with a title");
      // What the browser lays out, not what the markup holds: an SVG element written as an HTML
      // void element (`<line …>` without `/>`) swallows everything after it, which then has no box.
      const drawn = (await chart.count()) === 0 ? [] : await chart.first().evaluate((svg) =>
        [...svg.querySelectorAll("rect, text")]
          .filter((element) => {
            const box = element.getBoundingClientRect();
            return box.width > 0 && box.height > 0;
          })
          .map((element) => (element.tagName === "text" ? element.textContent : "bar")));
      check(drawn.includes("bar") && drawn.includes("now"),
        "the chart shows a bar for the login and its time axis", `drawn: ${JSON.stringify(drawn)}`);
      await look(keeper, "dashboard");
    });

    await step("the audit trail shows the login", async () => {
      need(s.accountToken, "a login");
      await open(page, `${base}/admin/audit`);
      const rows = page.locator("main table tbody tr", { hasText: "login.succeeded" });
      check((await rows.count()) > 0, "the audit trail shows login.succeeded");
      await look(keeper, "audit");
      await fill(page, "type", "login.succeeded");
      const filtered = await press(page, "Filter");
      const all = await page.locator("main table tbody tr").allInnerTexts();
      check(filtered.status() === 200 && all.length > 0 && all.every((row) => row.includes("login.succeeded")),
        "filtered by type login.succeeded, it shows only logins", `${filtered.status()} ${all.length} rows`);
      const named = all.some((row) => [s.member, s.memberName, s.email].some((name) => row.includes(name)));
      check(named, "the login's row names the member", all.slice(0, 3).join(" | "));
      await look(keeper, "audit-logins");
    });

    await step("five wrong passwords lock the member out; Clear lockout lets it log in again", async () => {
      need(s.member, "the member");
      const attempt = (password) => call("POST", "/v2/account-members/tokens", {
        bearer: s.shop,
        body: { data: {
          type: "account_management_authentication_token", authentication_mechanism: "password",
          password_profile_id: s.profile, username: s.email, password,
        } },
      });
      const statuses = [];
      for (let i = 0; i < 5; i += 1) statuses.push((await attempt(WRONG_PASSWORD)).status);
      check(statuses.every((status) => status === 400), "five wrong passwords answer 400", statuses.join(","));
      const locked = await attempt(PASSWORD);
      check(locked.status === 429, "then even the right password answers 429", String(locked.status));

      await open(page, `${base}/admin`);
      const recent = await page.locator(`main a[href="/admin/members/${s.member}"]`).count();
      check(recent > 0, "the dashboard's recent lockouts link to the member");
      await look(keeper, "dashboard-lockout");

      await open(page, `${base}/admin/members/${s.member}`);
      const before = await sectionText(page, "Lockout");
      check(/\blocked out\b/i.test(before) && !/\bnot locked\b|could not/i.test(before),
        "the member page says the member is locked out", before);
      await look(keeper, "member-locked-out");
      const cleared = await press(page, "Clear lockout");
      const said = await notice(page);
      check(cleared.status() === 200 && idIn(page.url(), "members") === s.member && said !== null,
        "Clear lockout returns to the member page with a notice", `${cleared.status()} ${page.url()} ${said}`);
      const after = await sectionText(page, "Lockout");
      check(/not locked/i.test(after) || !/locked out/i.test(after), "the member page no longer says locked out", after);
      await look(keeper, "member-lockout-cleared");
      const again = await attempt(PASSWORD);
      check(again.status === 201, "the right password logs in again", `${again.status} ${again.text.slice(0, 200)}`);
    });

    await step("Revoke all tokens: the API answers 401 to the member's earlier token", async () => {
      need(s.member, "the member");
      const accountToken = need(s.accountToken, "an account token");
      const read = () => call("GET", `/v2/accounts/${s.parent}`, { bearer: s.shop, accountToken });
      check((await read()).status === 200, "before: the account token reads its account");
      await open(page, `${base}/admin/members/${s.member}`);
      const revoked = await press(page, "Revoke all tokens");
      const said = await notice(page);
      check(revoked.status() === 200 && idIn(page.url(), "members") === s.member && said !== null,
        "Revoke all tokens returns to the member page with a notice", `${revoked.status()} ${page.url()} ${said}`);
      await look(keeper, "member-tokens-revoked");
      const after = await read();
      check(after.status === 401, "after: the same token answers 401", `${after.status} ${after.text.slice(0, 200)}`);
    });

    await step("edit an account, and delete it after a confirmation", async () => {
      need(s.child, "the child account");
      await open(page, `${base}/admin/accounts/${s.child}`);
      await follow(page, "Edit");
      check(new URL(page.url()).pathname === `/admin/accounts/${s.child}/edit`, "Edit opens the edit form", page.url());
      await look(keeper, "account-edit");
      const legalName = `Walkthrough Trading ${suffix} North Limited, renamed`;
      await fill(page, "legal_name", legalName);
      const saved = await press(page, "Save changes");
      check(saved.status() === 200 && idIn(page.url(), "accounts") === s.child
        && (await textOf(page.locator("main"))).includes(legalName),
      "Save changes shows the account with its new legal name", `${saved.status()} ${page.url()}`);
      const stored = expectStatus(await call("GET", `/v2/accounts/${s.child}`, { bearer: s.admin }), 200, "GET the account");
      check(stored.data.legal_name === legalName, "the API has the new legal name", stored.data.legal_name);

      await follow(page, "Delete");
      check(new URL(page.url()).pathname === `/admin/accounts/${s.child}/delete`, "Delete asks for a confirmation",
        page.url());
      await look(keeper, "account-delete");
      const deleted = await press(page, "Delete the account");
      check(deleted.status() === 200 && new URL(page.url()).pathname === "/admin/accounts",
        "Delete the account leads to the accounts", `${deleted.status()} ${page.url()}`);
      const gone = await call("GET", `/v2/accounts/${s.child}`, { bearer: s.admin });
      check(gone.status === 404, "the API no longer has the account", String(gone.status));
    });

    await step("a form without its CSRF token is refused with 403", async () => {
      need(s.signedIn, "a signed-in session");
      const probe = `Refused without its token ${suffix}`;
      await open(page, `${base}/admin/accounts/new`);
      await fill(page, "name", probe);
      // The masthead's sign-out form carries a token too; only the create form's goes.
      const removed = await page.evaluate(() => {
        const form = document.querySelector('main form[method="post"]');
        const field = form?.querySelector('input[name="csrf_token"]');
        field?.remove();
        return Boolean(field);
      });
      check(removed, "the create form carried a hidden csrf_token (removed now)");
      const refused = await press(page, "Create the account");
      check(refused.status() === 403, "without the token the form answers 403", String(refused.status()));
      await look(keeper, "csrf-refused");

      await open(page, `${base}/admin/accounts/new`);
      await fill(page, "name", probe);
      await page.evaluate(() => {
        const field = document.querySelector('main form[method="post"] input[name="csrf_token"]');
        field.value = `${field.value.slice(0, -2)}${field.value.endsWith("AA") ? "BB" : "AA"}`;
      });
      const altered = await press(page, "Create the account");
      check(altered.status() === 403, "with an altered token the form answers 403", String(altered.status()));

      const status = await page.evaluate(async (url) => {
        const answer = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ name: "Refused fetch" }),
          redirect: "manual",
        });
        return answer.status;
      }, `${base}/admin/accounts`);
      check(status === 403, "a fetch from the page without the token answers 403", String(status));

      const found = expectStatus(await call("GET",
        `/v2/accounts?filter=${encodeURIComponent(`ilike(name,Refused*)`)}`, { bearer: s.admin }), 200, "GET accounts");
      check(found.data.length === 0, "no account was created by the refused forms",
        found.data.map((a) => a.name).join(", "));
    });

    await step("create an application key: its secret is shown once and works; Delete ends it", async () => {
      need(s.signedIn, "a signed-in session");
      const name = `Browser suite key ${suffix}`;
      await open(page, `${base}/admin/application-keys`);
      await fill(page, "name", name);
      const created = await press(page, "Create the key");
      check(created.status() === 200 && new URL(page.url()).pathname === "/admin/application-keys",
        "Create the key answers with a page of its own (200, not a redirect)", `${created.status()} ${page.url()}`);
      const keys = expectStatus(await call("GET", "/v2/application-keys?page%5Blimit%5D=100", { bearer: s.admin }),
        200, "GET application-keys").data;
      const key = keys.find((k) => k.name === name);
      check(key !== undefined, "the API lists the new key", keys.map((k) => k.name).join(", "));
      if (!key) return;
      const shown = await textOf(page.locator("main"));
      check(shown.includes(key.client_id), "the page shows the key's client id");
      // The page's markup for the secret is its own affair: every long word on it, and every
      // read-only field's value, is tried as the secret.
      const values = await page.locator("main input").evaluateAll((inputs) => inputs.map((input) => input.value));
      const candidates = [...new Set([...shown.split(/[\s"'`:,;()]+/), ...values])]
        .filter((word) => word.length >= 20 && word !== key.client_id);
      let secret = null;
      for (const candidate of candidates) {
        const answer = await fetch(`${base}/oauth/access_token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "client_credentials", client_id: key.client_id, client_secret: candidate }),
          signal: AbortSignal.timeout(API_MS),
        });
        if (answer.status === 200) {
          secret = candidate;
          break;
        }
      }
      check(secret !== null, "the secret on the page signs in at /oauth/access_token", `${candidates.length} candidates`);
      await look(keeper, "application-key-created");
      await open(page, `${base}/admin/application-keys`);
      check(secret === null || !(await page.content()).includes(secret), "the list does not show the secret again");
      const row = page.locator("tr", { hasText: name });
      await press(page, "Delete", row);
      await look(keeper, "application-key-delete");
      const deleted = await press(page, "Delete the key");
      check(deleted.status() === 200, "Delete the key answers with a page", String(deleted.status()));
      const gone = expectStatus(await call("GET", "/v2/application-keys?page%5Blimit%5D=100", { bearer: s.admin }),
        200, "GET application-keys").data;
      check(!gone.some((k) => k.name === name), "the API no longer lists the key");
    });

    await step("every page of the masthead answers and passes axe", async () => {
      need(s.signedIn, "a signed-in session");
      await open(page, `${base}/admin`);
      const nav = page.getByRole("navigation", { name: "Console" });
      const pages = [
        ["Members", "/admin/members", "members"],
        ["Audit trail", "/admin/audit", "audit"],
        ["Application keys", "/admin/application-keys", "application-keys"],
        ["Integrations", "/admin/integrations", "integrations"],
        ["Realms", "/admin/realms", "realms"],
        ["Settings", "/admin/settings", "settings"],
      ];
      for (const [name, href, shot] of pages) {
        try {
          await open(page, `${base}/admin`);
          const link = await one(nav.getByRole("link", { name, exact: true }), `the masthead link "${name}"`);
          check((await link.getAttribute("href")) === href, `the masthead links "${name}" to ${href}`);
          const answer = await navigation(page, () => link.click());
          if (!check(answer.status() === 200, `${href} answers 200`, String(answer.status()))) continue;
          await look(keeper, shot);
          if (shot === "settings") {
            // Saving a settings document as it stands changes nothing, and must be accepted.
            const saved = await press(page, "Save", page.locator("main form").first());
            const alerts = await page.getByRole("alert").allInnerTexts();
            check(saved.status() === 200 && alerts.length === 0, "Save on the first settings document, unchanged, is accepted",
              `${saved.status()} ${alerts.join(" ")}`);
          }
        } catch (error) {
          check(false, `the masthead's "${name}"`, describe(error));
        }
      }
      try {
        await open(page, `${base}/admin/realms`);
        const link = await one(page.locator(`main a[href="/admin/realms/${s.realm}"]`), "a link to the realm");
        const realm = await navigation(page, () => link.click());
        const profiles = await textOf(page.locator("main"));
        check(realm.status() === 200 && profiles.includes(PROFILE_NAME),
          "the realm's page lists its password profile", String(realm.status()));
        await look(keeper, "realm");
      } catch (error) {
        check(false, "the realm's page", describe(error));
      }
    });

    await step("sign out", async () => {
      need(s.signedIn, "a signed-in session");
      await open(page, `${base}/admin`);
      await press(page, "Sign out", page.locator("header"));
      check(new URL(page.url()).pathname === "/admin/sign-in", "Sign out shows the sign-in page", page.url());
      await open(page, `${base}/admin/accounts`);
      check(new URL(page.url()).pathname === "/admin/sign-in", "after signing out, /admin/accounts asks to sign in",
        page.url());
    });
  } finally {
    await context.close().catch(() => {});
    await stopAccountd();
  }
}

async function main() {
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      stopServer();
      // Playwright kills the browser it launched when this process exits.
      process.exit(1);
    });
  }
  process.on("exit", stopServer);

  browser = await within(30_000, "starting Chromium", chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The suite's own handlers stop accountd first; Playwright's would only close the browser.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    timeout: 30_000,
    // /dev/shm is small in containers; Chromium then writes its shared memory to /tmp.
    args: ["--disable-dev-shm-usage"],
  }));
  console.log(`Chromium ${browser.version()}, playwright-core ${playwrightVersion}, axe-core ${axeVersion}`);
  try {
    for (const backend of BACKENDS) {
      try {
        await walk(backend);
      } catch (error) {
        check(false, `${backend.name}: run stopped`, describe(error));
        await stopAccountd();
      }
    }
  } finally {
    await within(15_000, "closing Chromium", browser.close()).catch(() => {});
  }
  console.log(`screenshots in ${OUT}`);
  if (failures > 0) {
    console.log(`${failures} check(s) failed`);
    process.exit(1);
  }
}

await main();
