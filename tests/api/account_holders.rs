//! Everything an account holder can do with its token, and nothing beyond it
//! (docs/authentication.md#account-holder-scope): a matrix of every account-holder route against
//! own, foreign and random resources and against tokens that are missing, revoked, orphaned or
//! expired; switching accounts; revocation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Shopper, TestApp, account_tokens, jwt_parts, shopper_in};
use crate::tests;

tests![
    the_account_holder_matrix,
    switching_follows_the_current_memberships,
    switching_works_until_the_token_expires_and_never_after,
    switching_with_a_token_of_a_deleted_member_is_refused,
    switching_pages_and_checks_the_bearer_token,
    the_account_read_checks_the_bearer_token_first,
    an_admin_revokes_every_token_of_a_member,
    a_token_minted_in_the_second_of_a_revocation_works,
    a_recreated_membership_keeps_only_tokens_of_its_own_second,
    the_reverse_lookup_shows_a_holder_only_its_token_membership,
    includes_bring_the_related_resources_once,
    unassigned_members_are_those_outside_the_account,
];

const TOKEN_TYPE: &str = "account_management_authentication_token";

/// One request of the matrix and what it must answer.
struct Case {
    name: String,
    method: Method,
    path: String,
    body: Option<Value>,
    status: u16,
    detail: Option<&'static str>,
}

fn case(
    name: &str,
    method: Method,
    path: String,
    status: u16,
    detail: Option<&'static str>,
) -> Case {
    Case {
        name: name.to_owned(),
        method,
        path,
        body: None,
        status,
        detail,
    }
}

/// The world of the matrix: member M and colleague C in account A, member O alone in B.
struct World {
    admin: String,
    implicit: String,
    m: Shopper,
    c_id: String,
    o: Shopper,
    account_a: String,
    account_b: String,
    m_membership: String,
    c_membership: String,
    o_membership: String,
    m_info: String,
    c_info: String,
}

async fn membership_of(app: &TestApp, admin: &str, account: &str, member: &str) -> String {
    let list = app
        .get(&format!(
            "/v2/accounts/{account}/account-memberships?filter=eq(account_member_id,{member})"
        ))
        .bearer(admin)
        .send()
        .await
        .expect(200);
    list["data"][0]["id"].as_str().unwrap().to_owned()
}

async fn info_of(app: &TestApp, admin: &str, member: &str) -> String {
    let list = app
        .get(&app.realm_path(&format!(
            "/user-authentication-info/{member}/user-authentication-password-profile-info"
        )))
        .bearer(admin)
        .send()
        .await
        .expect(200);
    list["data"][0]["id"].as_str().unwrap().to_owned()
}

async fn world(app: &TestApp) -> World {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let m = shopper_in(app, &admin, &["A"]).await;
    let c = shopper_in(app, &admin, &[]).await;
    let o = shopper_in(app, &admin, &["B"]).await;
    let account_a = m.accounts[0].clone();
    let account_b = o.accounts[0].clone();
    app.add_membership(&admin, &account_a, &c.member_id).await;
    World {
        m_membership: membership_of(app, &admin, &account_a, &m.member_id).await,
        c_membership: membership_of(app, &admin, &account_a, &c.member_id).await,
        o_membership: membership_of(app, &admin, &account_b, &o.member_id).await,
        m_info: info_of(app, &admin, &m.member_id).await,
        c_info: info_of(app, &admin, &c.member_id).await,
        c_id: c.member_id.clone(),
        admin,
        implicit,
        m,
        o,
        account_a,
        account_b,
    }
}

/// Every account-holder route with a valid token of M scoped to A.
fn cases(app: &TestApp, w: &World) -> Vec<Case> {
    use Method as M;
    let random = uuid::Uuid::new_v4().to_string();
    let (a, b) = (&w.account_a, &w.account_b);
    let (me, c, o) = (&w.m.member_id, &w.c_id, &w.o.member_id);
    let uai = |id: &str| app.realm_path(&format!("/user-authentication-info/{id}"));
    let ppi = |user: &str, info: &str| {
        format!(
            "{}/user-authentication-password-profile-info/{info}",
            uai(user)
        )
    };
    let ppis = |user: &str| format!("{}/user-authentication-password-profile-info", uai(user));
    const ACCOUNT: Option<&str> = Some("account not found");
    const MEMBER: Option<&str> = Some("account member not found");
    const MEMBERSHIP: Option<&str> = Some("account membership not found");
    const USER: Option<&str> = Some("user authentication info not found");
    const INFO: Option<&str> = Some("user authentication password profile info not found");
    const FORBIDDEN: Option<&str> = Some("forbidden");
    let mut cases = vec![
        case("list accounts", M::GET, "/v2/accounts".into(), 200, None),
        case(
            "own account",
            M::GET,
            format!("/v2/accounts/{a}"),
            200,
            None,
        ),
        case(
            "another account",
            M::GET,
            format!("/v2/accounts/{b}"),
            404,
            ACCOUNT,
        ),
        case(
            "random account",
            M::GET,
            format!("/v2/accounts/{random}"),
            404,
            ACCOUNT,
        ),
        case(
            "list members",
            M::GET,
            "/v2/account-members".into(),
            200,
            None,
        ),
        case(
            "own member",
            M::GET,
            format!("/v2/account-members/{me}"),
            200,
            None,
        ),
        case(
            "colleague",
            M::GET,
            format!("/v2/account-members/{c}"),
            404,
            MEMBER,
        ),
        case(
            "another account's member",
            M::GET,
            format!("/v2/account-members/{o}"),
            404,
            MEMBER,
        ),
        case(
            "random member",
            M::GET,
            format!("/v2/account-members/{random}"),
            404,
            MEMBER,
        ),
        case(
            "own account's memberships",
            M::GET,
            format!("/v2/accounts/{a}/account-memberships"),
            200,
            None,
        ),
        case(
            "another account's memberships",
            M::GET,
            format!("/v2/accounts/{b}/account-memberships"),
            404,
            ACCOUNT,
        ),
        case(
            "random account's memberships",
            M::GET,
            format!("/v2/accounts/{random}/account-memberships"),
            404,
            ACCOUNT,
        ),
        case(
            "own membership",
            M::GET,
            format!("/v2/accounts/{a}/account-memberships/{}", w.m_membership),
            200,
            None,
        ),
        case(
            "colleague's membership",
            M::GET,
            format!("/v2/accounts/{a}/account-memberships/{}", w.c_membership),
            200,
            None,
        ),
        case(
            "another account's membership",
            M::GET,
            format!("/v2/accounts/{b}/account-memberships/{}", w.o_membership),
            404,
            ACCOUNT,
        ),
        case(
            "foreign membership under own account",
            M::GET,
            format!("/v2/accounts/{a}/account-memberships/{}", w.o_membership),
            404,
            MEMBERSHIP,
        ),
        case(
            "random membership",
            M::GET,
            format!("/v2/accounts/{a}/account-memberships/{random}"),
            404,
            MEMBERSHIP,
        ),
        case(
            "own reverse lookup",
            M::GET,
            format!("/v2/account-members/{me}/account-memberships"),
            200,
            None,
        ),
        case(
            "colleague's reverse lookup",
            M::GET,
            format!("/v2/account-members/{c}/account-memberships"),
            404,
            MEMBER,
        ),
        case(
            "another account's reverse lookup",
            M::GET,
            format!("/v2/account-members/{o}/account-memberships"),
            404,
            MEMBER,
        ),
        case(
            "random reverse lookup",
            M::GET,
            format!("/v2/account-members/{random}/account-memberships"),
            404,
            MEMBER,
        ),
        case(
            "list users",
            M::GET,
            app.realm_path("/user-authentication-info"),
            200,
            None,
        ),
        case("own user", M::GET, uai(me), 200, None),
        case("colleague's user", M::GET, uai(c), 404, USER),
        case("another account's user", M::GET, uai(o), 404, USER),
        case("random user", M::GET, uai(&random), 404, USER),
        case("own logins", M::GET, ppis(me), 200, None),
        case("colleague's logins", M::GET, ppis(c), 404, USER),
        case("random user's logins", M::GET, ppis(&random), 404, USER),
        case("own login", M::GET, ppi(me, &w.m_info), 200, None),
        case(
            "colleague's login under own user",
            M::GET,
            ppi(me, &w.c_info),
            404,
            INFO,
        ),
        case("colleague's login", M::GET, ppi(c, &w.c_info), 404, USER),
        case("random login", M::GET, ppi(me, &random), 404, INFO),
        // Self-management is disabled by default: 403 on the own record, 404 elsewhere
        // (docs/self-management.md#order-of-checks).
        case("edit own user", M::PUT, uai(me), 403, FORBIDDEN),
        case("edit colleague's user", M::PUT, uai(c), 404, USER),
        case("edit random user", M::PUT, uai(&random), 404, USER),
        case("edit own login", M::PUT, ppi(me, &w.m_info), 403, FORBIDDEN),
        case(
            "edit colleague's login",
            M::PUT,
            ppi(c, &w.c_info),
            404,
            USER,
        ),
        case(
            "edit a foreign login under own user",
            M::PUT,
            ppi(me, &w.c_info),
            404,
            INFO,
        ),
        // Writes an account holder may never make (docs/authentication.md#permission-matrix).
        case(
            "rename own account",
            M::PUT,
            format!("/v2/accounts/{a}"),
            403,
            FORBIDDEN,
        ),
        case(
            "delete own account",
            M::DELETE,
            format!("/v2/accounts/{a}"),
            403,
            FORBIDDEN,
        ),
        case(
            "create an account",
            M::POST,
            "/v2/accounts".into(),
            403,
            FORBIDDEN,
        ),
        case(
            "add a membership",
            M::POST,
            format!("/v2/accounts/{a}/account-memberships"),
            403,
            FORBIDDEN,
        ),
        case(
            "remove a membership",
            M::DELETE,
            format!("/v2/accounts/{a}/account-memberships/{}", w.c_membership),
            403,
            FORBIDDEN,
        ),
        case(
            "list unassigned members",
            M::GET,
            format!("/v2/accounts/{a}/account-memberships/unassigned-account-members"),
            403,
            FORBIDDEN,
        ),
        case(
            "revoke tokens",
            M::DELETE,
            format!("/v2/account-members/{me}/tokens"),
            403,
            FORBIDDEN,
        ),
        case(
            "read lockout",
            M::GET,
            format!("/v2/account-members/{me}/lockout"),
            403,
            FORBIDDEN,
        ),
        case(
            "clear lockout",
            M::DELETE,
            format!("/v2/account-members/{me}/lockout"),
            403,
            FORBIDDEN,
        ),
        case(
            "switch accounts",
            M::POST,
            "/v2/account-members/tokens".into(),
            201,
            None,
        ),
    ];
    for case in &mut cases {
        case.body = match (&case.method, case.path.as_str()) {
            (&Method::POST, "/v2/account-members/tokens") => {
                Some(json!({"data": {"type": TOKEN_TYPE, "authentication_mechanism": TOKEN_TYPE}}))
            }
            (&Method::POST | &Method::PUT, _) => Some(json!({"data": {"type": "x", "name": "x"}})),
            _ => None,
        };
    }
    cases
}

async fn run(app: &TestApp, bearer: &str, token: Option<&str>, case: &Case) -> (u16, Value) {
    let mut call = app.call(case.method.clone(), &case.path).bearer(bearer);
    if let Some(token) = token {
        call = call.account_token(token);
    }
    if let Some(body) = &case.body {
        call = call.json(body.clone());
    }
    let reply = call.send().await;
    let body = if reply.text.is_empty() {
        Value::Null
    } else {
        reply.json()
    };
    (reply.status.as_u16(), body)
}

/// Runs every case and collects the ones that answered otherwise than expected.
async fn failures(
    app: &TestApp,
    bearer: &str,
    token: Option<&str>,
    cases: &[Case],
    expect: impl Fn(&Case) -> (u16, Option<&'static str>),
) -> Vec<String> {
    let mut wrong = Vec::new();
    for case in cases {
        let (status, body) = run(app, bearer, token, case).await;
        let (want_status, want_detail) = expect(case);
        let detail = body["errors"][0]["detail"].as_str();
        let envelope_ok = want_detail.is_none_or(|want| {
            detail == Some(want)
                && body["errors"][0]["status"].as_str() == Some(want_status.to_string().as_str())
        });
        if status != want_status || !envelope_ok {
            wrong.push(format!(
                "{} {} ({}): got {status} {body}, want {want_status} {want_detail:?}",
                case.method, case.path, case.name
            ));
        }
    }
    wrong
}

async fn login(app: &TestApp, implicit: &str, shopper: &Shopper) -> String {
    account_tokens(app, implicit, shopper).await.remove(0).1
}

async fn the_account_holder_matrix(app: TestApp) {
    app.put("/v2/settings/account-authentication")
        .bearer(&app.admin_token().await)
        .json(json!({"data": {"type": "account_authentication_settings", "account_management_authentication_token_timeout_secs": 3600}}))
        .send()
        .await
        .expect(200);
    let w = world(&app).await;
    let token = login(&app, &w.implicit, &w.m).await;
    let cases = cases(&app, &w);
    let mut wrong = Vec::new();

    // Own, foreign and random resources with a valid token, under either bearer kind
    // (docs/decisions.md#account-holders-read-never-write-accounts).
    for bearer in [&w.implicit, &w.admin] {
        wrong.extend(failures(&app, bearer, Some(&token), &cases, |c| (c.status, c.detail)).await);
    }

    // No account token: a shopper, who may read none of these.
    wrong.extend(
        failures(&app, &w.implicit, None, &cases, |c| match c.name.as_str() {
            "switch accounts" => (
                400,
                Some("Validation failed: field 'EPAccountManagementAuthenticationToken' on the 'required' tag."),
            ),
            _ => (403, Some("forbidden")),
        })
        .await,
    );

    // A revoked token, and the token of a removed membership: invalid everywhere.
    let invalid = |_: &Case| {
        (
            401,
            Some("account management authentication token is invalid"),
        )
    };
    let revoked_member = shopper_in(&app, &w.admin, &[]).await;
    app.add_membership(&w.admin, &w.account_a, &revoked_member.member_id)
        .await;
    let revoked = login(&app, &w.implicit, &revoked_member).await;
    app.clock.advance_seconds(1);
    app.delete(&format!(
        "/v2/account-members/{}/tokens",
        revoked_member.member_id
    ))
    .bearer(&w.admin)
    .send()
    .await
    .expect(204);
    wrong.extend(failures(&app, &w.implicit, Some(&revoked), &cases, invalid).await);

    let removed_member = shopper_in(&app, &w.admin, &[]).await;
    let membership = app
        .add_membership(&w.admin, &w.account_a, &removed_member.member_id)
        .await;
    let orphaned = login(&app, &w.implicit, &removed_member).await;
    app.delete(&format!(
        "/v2/accounts/{}/account-memberships/{}",
        w.account_a,
        membership["id"].as_str().unwrap()
    ))
    .bearer(&w.admin)
    .send()
    .await
    .expect(204);
    wrong.extend(failures(&app, &w.implicit, Some(&orphaned), &cases, invalid).await);

    // The membership deleted and created again after the token was issued: the pair is linked
    // once more, but the old token belonged to the membership that went.
    let returning_member = shopper_in(&app, &w.admin, &[]).await;
    let first = app
        .add_membership(&w.admin, &w.account_a, &returning_member.member_id)
        .await;
    let stale = login(&app, &w.implicit, &returning_member).await;
    app.clock.advance_seconds(1);
    app.delete(&format!(
        "/v2/accounts/{}/account-memberships/{}",
        w.account_a,
        first["id"].as_str().unwrap()
    ))
    .bearer(&w.admin)
    .send()
    .await
    .expect(204);
    app.add_membership(&w.admin, &w.account_a, &returning_member.member_id)
        .await;
    wrong.extend(failures(&app, &w.implicit, Some(&stale), &cases, invalid).await);

    // Finally an expired token (the bearer is refreshed: it lives an hour too).
    app.clock.advance_seconds(3600);
    let implicit = app.implicit_token().await;
    wrong.extend(
        failures(&app, &implicit, Some(&token), &cases, |_| {
            (
                401,
                Some("account management authentication token has expired"),
            )
        })
        .await,
    );
    assert!(
        wrong.is_empty(),
        "{} cases answered wrongly:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

async fn switch(app: &TestApp, implicit: &str, token: &str) -> crate::helpers::Reply {
    app.post("/v2/account-members/tokens")
        .bearer(implicit)
        .account_token(token)
        .json(json!({"data": {"type": TOKEN_TYPE, "authentication_mechanism": TOKEN_TYPE}}))
        .send()
        .await
}

fn token_for(body: &Value, account: &str) -> String {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["account_id"] == account)
        .map(|item| item["token"].as_str().unwrap().to_owned())
        .expect("a token for the account")
}

async fn switching_follows_the_current_memberships(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let member = shopper_in(&app, &admin, &["A", "B", "C"]).await;
    let (a, b, c) = (
        &member.accounts[0],
        &member.accounts[1],
        &member.accounts[2],
    );
    let first = app.log_in(&implicit, &member).await.expect(201);
    let token_a = token_for(&first, a);
    // From A to C ...
    let from_a = switch(&app, &implicit, &token_a).await.expect(201);
    assert_eq!(from_a["data"].as_array().unwrap().len(), 3);
    let token_c = token_for(&from_a, c);
    app.get(&format!("/v2/accounts/{c}"))
        .bearer(&implicit)
        .account_token(&token_c)
        .send()
        .await
        .expect(200);
    // ... and back.
    let from_c = switch(&app, &implicit, &token_c).await.expect(201);
    let back = token_for(&from_c, a);
    let (_, claims) = jwt_parts(&back);
    assert_eq!(claims["scope"], a.as_str());
    app.get(&format!("/v2/accounts/{a}"))
        .bearer(&implicit)
        .account_token(&back)
        .send()
        .await
        .expect(200);
    // Removed from B: the switch returns two tokens, and renames show up.
    let membership_b = membership_of(&app, &admin, b, &member.member_id).await;
    app.delete(&format!(
        "/v2/accounts/{b}/account-memberships/{membership_b}"
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    app.put(&format!("/v2/accounts/{c}"))
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": "C renamed"}}))
        .send()
        .await
        .expect(200);
    let after = switch(&app, &implicit, &back).await.expect(201);
    let names: Vec<&str> = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["account_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "C renamed"]);
}

async fn switching_works_until_the_token_expires_and_never_after(app: TestApp) {
    let admin = app.admin_token().await;
    app.put("/v2/settings/account-authentication")
        .bearer(&admin)
        .json(json!({"data": {"type": "account_authentication_settings", "account_management_authentication_token_timeout_secs": 600}}))
        .send()
        .await
        .expect(200);
    let implicit = app.implicit_token().await;
    let member = shopper_in(&app, &admin, &["A"]).await;
    let token = login(&app, &implicit, &member).await;
    app.clock.advance_seconds(599);
    let refreshed = switch(&app, &implicit, &token).await.expect(201);
    let fresh = refreshed["data"][0]["token"].as_str().unwrap().to_owned();
    app.clock.advance_seconds(1);
    switch(&app, &implicit, &token)
        .await
        .expect_error(401, "account management authentication token has expired");
    // The refreshed token carries a new lifetime: a sliding session.
    switch(&app, &implicit, &fresh).await.expect(201);
}

async fn switching_with_a_token_of_a_deleted_member_is_refused(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let member = shopper_in(&app, &admin, &["A"]).await;
    let token = login(&app, &implicit, &member).await;
    app.delete(&app.realm_path(&format!("/user-authentication-info/{}", member.member_id)))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    switch(&app, &implicit, &token)
        .await
        .expect_error(401, "account management authentication token is invalid");
}

async fn an_admin_revokes_every_token_of_a_member(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let member = shopper_in(&app, &admin, &["A", "B"]).await;
    let body = app.log_in(&implicit, &member).await.expect(201);
    app.clock.advance_seconds(2);
    app.delete(&format!("/v2/account-members/{}/tokens", member.member_id))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    for (item, account) in body["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&member.accounts)
    {
        app.get(&format!("/v2/accounts/{account}"))
            .bearer(&implicit)
            .account_token(item["token"].as_str().unwrap())
            .send()
            .await
            .expect_error(401, "account management authentication token is invalid");
    }
    for id in [uuid::Uuid::new_v4().to_string(), "nope".to_owned()] {
        app.delete(&format!("/v2/account-members/{id}/tokens"))
            .bearer(&admin)
            .send()
            .await
            .expect_error(404, "account member not found");
    }
    app.delete(&format!("/v2/account-members/{}/tokens", member.member_id))
        .bearer(&implicit)
        .send()
        .await
        .expect_error(403, "forbidden");
}

async fn a_token_minted_in_the_second_of_a_revocation_works(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let member = shopper_in(&app, &admin, &["A"]).await;
    // Revoke and log in again without the clock moving: the same whole second
    // (docs/account-tokens.md#lifetime-and-revocation).
    app.delete(&format!("/v2/account-members/{}/tokens", member.member_id))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    let token = login(&app, &implicit, &member).await;
    app.get(&format!("/v2/accounts/{}", member.accounts[0]))
        .bearer(&implicit)
        .account_token(&token)
        .send()
        .await
        .expect(200);
}

/// Membership creation is compared in whole seconds, like `iat`: a token issued in the second
/// its membership was (re-)created keeps working, one issued a second before does not.
async fn a_recreated_membership_keeps_only_tokens_of_its_own_second(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let member = shopper_in(&app, &admin, &[]).await;
    let account = app.create_account(&admin, "Again").await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let second = app.clock_seconds() + 1;
    app.clock
        .set(accountd::time::Timestamp::from_seconds(second));
    let first = app
        .add_membership(&admin, &account_id, &member.member_id)
        .await;
    let token = login(&app, &implicit, &member).await;
    let read = |token: String| {
        let (app, implicit, path) = (&app, &implicit, format!("/v2/accounts/{account_id}"));
        async move {
            app.get(&path)
                .bearer(implicit)
                .account_token(&token)
                .send()
                .await
        }
    };
    let recreate = |membership: String| {
        let (app, admin, account_id, member_id) = (&app, &admin, &account_id, &member.member_id);
        async move {
            app.delete(&format!(
                "/v2/accounts/{account_id}/account-memberships/{membership}"
            ))
            .bearer(admin)
            .send()
            .await
            .expect(204);
            app.add_membership(admin, account_id, member_id).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    // Re-created 999 ms later, still in the token's second: the token lives.
    app.clock.advance_millis(999);
    let again = recreate(first["id"].as_str().unwrap().to_owned()).await;
    read(token.clone()).await.expect(200);
    // Re-created in the next second: dead on the read and on the switch, while a token minted
    // in that second works.
    app.clock.advance_millis(1);
    recreate(again).await;
    read(token.clone())
        .await
        .expect_error(401, "account management authentication token is invalid");
    switch(&app, &implicit, &token)
        .await
        .expect_error(401, "account management authentication token is invalid");
    let fresh = login(&app, &implicit, &member).await;
    read(fresh.clone()).await.expect(200);
    switch(&app, &implicit, &fresh).await.expect(201);
}

async fn the_reverse_lookup_shows_a_holder_only_its_token_membership(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let member = shopper_in(&app, &admin, &["A", "B"]).await;
    let path = format!(
        "/v2/account-members/{}/account-memberships",
        member.member_id
    );
    let all = app.get(&path).bearer(&admin).send().await.expect(200);
    assert_eq!(all["meta"]["results"]["total"], 2);
    assert_eq!(
        all["links"]["current"],
        format!("http://accountd.test{path}?page[offset]=0&page[limit]=25")
    );
    let body = app.log_in(&implicit, &member).await.expect(201);
    let token_b = token_for(&body, &member.accounts[1]);
    let scoped = app
        .get(&path)
        .bearer(&implicit)
        .account_token(&token_b)
        .send()
        .await
        .expect(200);
    assert_eq!(scoped["meta"]["results"]["total"], 1);
    assert_eq!(
        scoped["data"][0]["relationships"]["account"]["data"]["id"],
        member.accounts[1].as_str()
    );
    let prefix = &member.member_id[..8];
    let filtered = app
        .get(&format!("{path}?filter=like(account_member_id,{prefix}*)"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(filtered["meta"]["results"]["total"], 2);
    let none = app
        .get(&format!("{path}?filter=like(account_member_id,zzzz*)"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(none["meta"]["results"]["total"], 0);
}

async fn includes_bring_the_related_resources_once(app: TestApp) {
    let admin = app.admin_token().await;
    let member = shopper_in(&app, &admin, &["A", "B"]).await;
    let other = app.create_user(&admin, "Other", "other@example.com").await;
    let a = &member.accounts[0];
    app.add_membership(&admin, a, other["id"].as_str().unwrap())
        .await;
    for include in ["account_member", "account_members"] {
        let list = app
            .get(&format!(
                "/v2/accounts/{a}/account-memberships?include={include}"
            ))
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        let members = list["included"]["account_members"].as_array().unwrap();
        assert_eq!(members.len(), 2);
        assert!(members.iter().all(|m| m["type"] == "account_member"));
        assert!(list["included"].get("accounts").is_none());
        assert!(
            list["links"]["current"]
                .as_str()
                .unwrap()
                .contains(&format!("include={include}&")),
            "links keep the include"
        );
    }
    let plain = app
        .get(&format!("/v2/accounts/{a}/account-memberships"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert!(plain.get("included").is_none());
    let single_id = membership_of(&app, &admin, a, &member.member_id).await;
    let single = app
        .get(&format!(
            "/v2/accounts/{a}/account-memberships/{single_id}?include=account_member"
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        single["included"]["account_members"][0]["id"],
        member.member_id.as_str()
    );
    let reverse = app
        .get(&format!(
            "/v2/account-members/{}/account-memberships?include=accounts",
            member.member_id
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let accounts = reverse["included"]["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().all(|account| account["type"] == "account"));
    for bad in [
        format!("/v2/accounts/{a}/account-memberships?include=account"),
        format!("/v2/accounts/{a}/account-memberships/{single_id}?include=everything"),
        format!(
            "/v2/account-members/{}/account-memberships?include=account_member",
            member.member_id
        ),
    ] {
        app.get(&bad)
            .bearer(&admin)
            .send()
            .await
            .expect_error(400, "Could not parse the supplied include");
    }
}

async fn unassigned_members_are_those_outside_the_account(app: TestApp) {
    let admin = app.admin_token().await;
    let inside = shopper_in(&app, &admin, &["A"]).await;
    let a = &inside.accounts[0];
    let outside = app
        .create_user(&admin, "Outside Person", "outside@example.com")
        .await;
    let path = format!("/v2/accounts/{a}/account-memberships/unassigned-account-members");
    let list = app.get(&path).bearer(&admin).send().await.expect(200);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [outside["id"].as_str().unwrap()]);
    assert_eq!(list["data"][0]["type"], "account_member");
    let filtered = app
        .get(&format!("{path}?filter=ilike(name,outside*)"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(filtered["meta"]["results"]["total"], 1);
    app.get(&format!("{path}?filter=is_null(given_name)"))
        .bearer(&admin)
        .send()
        .await
        .expect_error(400, "Could not parse the supplied filter");
    app.get(&format!(
        "/v2/accounts/{}/account-memberships/unassigned-account-members",
        uuid::Uuid::new_v4()
    ))
    .bearer(&admin)
    .send()
    .await
    .expect_error(404, "account not found");
}

/// The switch answers from one statement; its page parameters, its bearer check and the page
/// past the end (where that statement has no row) must answer as the step-by-step checks do.
async fn switching_pages_and_checks_the_bearer_token(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let member = shopper_in(&app, &admin, &["A", "B", "C"]).await;
    let token = login(&app, &implicit, &member).await;
    let body = json!({"data": {"type": TOKEN_TYPE, "authentication_mechanism": TOKEN_TYPE}});
    let second = app
        .post("/v2/account-members/tokens?page[limit]=1&page[offset]=1")
        .bearer(&implicit)
        .account_token(&token)
        .json(body.clone())
        .send()
        .await
        .expect(201);
    let names: Vec<&str> = second["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["account_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["B"]);
    assert_eq!(second["meta"]["results"]["total"], 3);
    let past_end = app
        .post("/v2/account-members/tokens?page[offset]=7")
        .bearer(&implicit)
        .account_token(&token)
        .json(body.clone())
        .send()
        .await
        .expect(201);
    assert_eq!(past_end["data"].as_array().unwrap().len(), 0);
    assert_eq!(past_end["meta"]["results"]["total"], 3);
    assert_eq!(
        past_end["meta"]["account_member_id"],
        member.member_id.as_str()
    );
    for bearer in ["not-a-bearer-token", token.as_str()] {
        app.post("/v2/account-members/tokens")
            .bearer(bearer)
            .account_token(&token)
            .json(body.clone())
            .send()
            .await
            .expect_error(401, "Unable to validate access token");
    }
    // Revoked: refused on the one-statement path and on the page past the end alike.
    app.clock.advance_seconds(2);
    app.delete(&format!("/v2/account-members/{}/tokens", member.member_id))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    for path in [
        "/v2/account-members/tokens",
        "/v2/account-members/tokens?page[offset]=7",
    ] {
        app.post(path)
            .bearer(&implicit)
            .account_token(&token)
            .json(body.clone())
            .send()
            .await
            .expect_error(401, "account management authentication token is invalid");
    }
}

/// The account read with an account token is one statement too; the answers keep the order of
/// the step-by-step checks: bearer, account token, then the account.
async fn the_account_read_checks_the_bearer_token_first(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let member = shopper_in(&app, &admin, &["A", "B"]).await;
    let other = shopper_in(&app, &admin, &["Elsewhere"]).await;
    let token = login(&app, &implicit, &member).await;
    let (_, claims) = jwt_parts(&token);
    let own = claims["scope"].as_str().unwrap().to_owned();
    let read = |id: String, bearer: String| {
        let app = &app;
        let token = token.clone();
        async move {
            app.get(&format!("/v2/accounts/{id}"))
                .bearer(&bearer)
                .account_token(&token)
                .send()
                .await
        }
    };
    let body = read(own.clone(), implicit.clone()).await.expect(200);
    assert_eq!(body["data"]["id"], own.as_str());
    for id in [own.clone(), "nope".to_owned()] {
        read(id, "not-a-bearer-token".to_owned())
            .await
            .expect_error(401, "Unable to validate access token");
    }
    let sibling = member
        .accounts
        .iter()
        .find(|account| **account != own)
        .unwrap()
        .clone();
    for id in [
        sibling,
        other.accounts[0].clone(),
        uuid::Uuid::new_v4().to_string(),
        "nope".to_owned(),
    ] {
        read(id, implicit.clone())
            .await
            .expect_error(404, "account not found");
    }
    let membership = membership_of(&app, &admin, &own, &member.member_id).await;
    app.delete(&format!(
        "/v2/accounts/{own}/account-memberships/{membership}"
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    for id in [own.clone(), "nope".to_owned()] {
        read(id, implicit.clone())
            .await
            .expect_error(401, "account management authentication token is invalid");
    }
}
