//! Every path that writes accounts, members or memberships emits their events, whoever takes it:
//! a table of paths (admin API, cascades, self sign-up, OpenID Connect sign-ins, self-management,
//! logins and other writes that touch a member) and the event keys each must produce, in order.
//! What each path wrote to the outbox is read back exactly, so nothing is waited for but the
//! deliveries, which a real webhook receiver must get too.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::helpers::{TestApp, shopper_in};
use crate::oidc;
use crate::receiver::Receiver;
use crate::tests;

tests![every_write_path_emits_exactly_its_events];

const ACCOUNT_CREATED: &str = "account.event.created";
const ACCOUNT_UPDATED: &str = "account.event.updated";
const ACCOUNT_DELETED: &str = "account.event.deleted";
const MEMBER_CREATED: &str = "account-member.event.created";
const MEMBER_UPDATED: &str = "account-member.event.updated";
const MEMBER_DELETED: &str = "account-member.event.deleted";
const MEMBERSHIP_CREATED: &str = "account-membership.event.created";
const MEMBERSHIP_DELETED: &str = "account-membership.event.deleted";
const TOKEN_TYPE: &str = "account_management_authentication_token";

/// What the paths share: the callers, an OpenID Connect provider, a password profile, and the
/// ids earlier paths created, by name.
struct World {
    app: TestApp,
    admin: String,
    implicit: String,
    oidc: oidc::Setup,
    profile_id: String,
    ids: Mutex<HashMap<&'static str, String>>,
    /// Outbox events of a path's preparations, which the table does not count as its own.
    prepared: Mutex<HashSet<uuid::Uuid>>,
}

impl World {
    fn remember(&self, name: &'static str, id: &Value) {
        let id = id.as_str().expect("an id").to_owned();
        self.ids.lock().unwrap().insert(name, id);
    }

    fn id(&self, name: &str) -> String {
        self.ids.lock().unwrap()[name].clone()
    }

    fn user_path(&self, member: &str) -> String {
        self.app
            .realm_path(&format!("/user-authentication-info/{}", self.id(member)))
    }

    async fn set(&self, settings: Value) {
        self.app.set_auth_settings(&self.admin, settings).await;
    }

    async fn self_signup(&self, username: &str) -> Value {
        self.app
            .post("/v2/account-members/tokens")
            .bearer(&self.implicit)
            .json(json!({"data": {
                "type": TOKEN_TYPE,
                "authentication_mechanism": "self_signup",
                "password_profile_id": self.profile_id,
                "username": username,
                "password": "a password long enough",
                "name": "Signed Up",
                "email": username,
            }}))
            .send()
            .await
            .expect(201)
    }
}

type Action = for<'w> fn(&'w World) -> Pin<Box<dyn Future<Output = ()> + Send + 'w>>;

/// One write path and the events it must emit, in this order.
struct Path {
    path: &'static str,
    events: &'static [&'static str],
    action: Action,
}

const PATHS: &[Path] = &[
    Path {
        path: "admin creates an account",
        events: &[ACCOUNT_CREATED],
        action: |w| Box::pin(admin_creates_an_account(w)),
    },
    Path {
        path: "admin renames the account",
        events: &[ACCOUNT_UPDATED],
        action: |w| Box::pin(admin_renames_the_account(w)),
    },
    Path {
        path: "admin puts the account unchanged",
        events: &[],
        action: |w| Box::pin(admin_puts_the_account_unchanged(w)),
    },
    Path {
        path: "admin creates a member",
        events: &[MEMBER_CREATED],
        action: |w| Box::pin(admin_creates_a_member(w)),
    },
    Path {
        path: "admin updates the member",
        events: &[MEMBER_UPDATED],
        action: |w| Box::pin(admin_updates_the_member(w)),
    },
    Path {
        path: "admin adds a membership",
        events: &[MEMBERSHIP_CREATED],
        action: |w| Box::pin(admin_adds_a_membership(w)),
    },
    Path {
        path: "a refused membership (409) and a membership put change nothing",
        events: &[],
        action: |w| Box::pin(refused_and_unchanged_memberships(w)),
    },
    Path {
        path: "admin gives the member a password, changes it, removes a second login",
        events: &[],
        action: |w| Box::pin(admin_manages_password_logins(w)),
    },
    Path {
        path: "the member logs in with its password and switches",
        events: &[],
        action: |w| Box::pin(the_member_logs_in_and_switches(w)),
    },
    Path {
        path: "self-management renames the member",
        events: &[MEMBER_UPDATED],
        action: |w| Box::pin(self_management_renames_the_member(w)),
    },
    Path {
        path: "self-management changes the password",
        events: &[],
        action: |w| Box::pin(self_management_changes_the_password(w)),
    },
    Path {
        path: "admin revokes the member's tokens and clears its lockout",
        events: &[],
        action: |w| Box::pin(admin_revokes_and_clears(w)),
    },
    Path {
        path: "admin removes the membership",
        events: &[MEMBERSHIP_DELETED],
        action: |w| Box::pin(admin_removes_the_membership(w)),
    },
    Path {
        path: "admin deletes an account with two memberships (cascade)",
        events: &[MEMBERSHIP_DELETED, MEMBERSHIP_DELETED, ACCOUNT_DELETED],
        action: |w| Box::pin(admin_deletes_an_account_with_members(w)),
    },
    Path {
        path: "admin deletes a member with two memberships (cascade)",
        events: &[MEMBERSHIP_DELETED, MEMBERSHIP_DELETED, MEMBER_DELETED],
        action: |w| Box::pin(admin_deletes_a_member_with_memberships(w)),
    },
    Path {
        path: "self sign-up",
        events: &[MEMBER_CREATED],
        action: |w| Box::pin(self_sign_up(w)),
    },
    Path {
        path: "self sign-up with auto-create",
        events: &[MEMBER_CREATED, ACCOUNT_CREATED, MEMBERSHIP_CREATED],
        action: |w| Box::pin(self_sign_up_with_auto_create(w)),
    },
    Path {
        path: "OpenID Connect first sign-in",
        events: &[MEMBER_CREATED],
        action: |w| Box::pin(oidc_first_sign_in(w)),
    },
    Path {
        path: "OpenID Connect sign-in again, nothing changed at the provider",
        events: &[],
        action: |w| Box::pin(oidc_sign_in_unchanged(w)),
    },
    Path {
        path: "OpenID Connect sign-in again, the provider renamed the member",
        events: &[MEMBER_UPDATED],
        action: |w| Box::pin(oidc_sign_in_renamed(w)),
    },
    Path {
        path: "OpenID Connect first sign-in with auto-create",
        events: &[MEMBER_CREATED, ACCOUNT_CREATED, MEMBERSHIP_CREATED],
        action: |w| Box::pin(oidc_first_sign_in_with_auto_create(w)),
    },
    Path {
        path: "admin links, changes and unlinks an OpenID Connect identity",
        events: &[],
        action: |w| Box::pin(admin_manages_oidc_identities(w)),
    },
    Path {
        path: "a one-time code is requested",
        events: &[],
        action: |w| Box::pin(a_one_time_code_is_requested(w)),
    },
];

async fn every_write_path_emits_exactly_its_events(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let receiver = Receiver::start().await;
    let observed = [
        ACCOUNT_CREATED,
        ACCOUNT_UPDATED,
        ACCOUNT_DELETED,
        MEMBER_CREATED,
        MEMBER_UPDATED,
        MEMBER_DELETED,
        MEMBERSHIP_CREATED,
        MEMBERSHIP_DELETED,
    ];
    app.create_integration(&admin, &receiver.url, &observed)
        .await;
    let oidc = oidc::setup(&app).await;
    let profile = app
        .create_password_profile(
            &admin,
            json!({"type": "password_profile", "name": "Shop", "enable_one_time_password_token": true}),
        )
        .await;
    app.set_auth_settings(
        &admin,
        json!({"enable_self_signup": true, "account_member_self_management": "update_only"}),
    )
    .await;
    let world = World {
        app,
        admin,
        implicit,
        oidc,
        profile_id: profile["id"].as_str().unwrap().to_owned(),
        ids: Mutex::new(HashMap::new()),
        prepared: Mutex::new(HashSet::new()),
    };

    let mut seen: HashSet<uuid::Uuid> = HashSet::new();
    let mut delivered = 0;
    let mut wrong = Vec::new();
    for path in PATHS {
        // Apart in time from the previous path, so commit order is unambiguous.
        world.app.clock.advance_millis(10);
        (path.action)(&world).await;
        let new: Vec<(uuid::Uuid, String)> = world
            .app
            .outbox_events()
            .await
            .into_iter()
            .filter(|(id, _)| seen.insert(*id))
            .collect();
        let prepared = std::mem::take(&mut *world.prepared.lock().unwrap());
        let emitted: Vec<&str> = new
            .iter()
            .filter(|(id, _)| !prepared.contains(id))
            .map(|(_, key)| key.as_str())
            .collect();
        if emitted != path.events {
            wrong.push(format!(
                "{}: emitted {emitted:?}, want {:?}",
                path.path, path.events
            ));
        }
        // The receiver gets these events (preparations' too) before the next path starts.
        let received = receiver.wait_for(delivered + new.len()).await;
        let mut got: Vec<String> = received[delivered..]
            .iter()
            .map(crate::receiver::Delivery::triggered_by)
            .collect();
        let mut want: Vec<String> = new.into_iter().map(|(_, key)| key).collect();
        got.sort();
        want.sort();
        if got != want {
            wrong.push(format!("{}: delivered {got:?}, want {want:?}", path.path));
        }
        delivered = received.len();
    }
    assert!(
        wrong.is_empty(),
        "{} paths emitted the wrong events:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

async fn admin_creates_an_account(w: &World) {
    let account = w.app.create_account(&w.admin, "Acme").await;
    w.remember("account", &account["id"]);
}

async fn admin_renames_the_account(w: &World) {
    w.app
        .put(&format!("/v2/accounts/{}", w.id("account")))
        .bearer(&w.admin)
        .json(json!({"data": {"type": "account", "name": "Acme Renamed"}}))
        .send()
        .await
        .expect(200);
}

async fn admin_puts_the_account_unchanged(w: &World) {
    w.app
        .put(&format!("/v2/accounts/{}", w.id("account")))
        .bearer(&w.admin)
        .json(json!({"data": {"type": "account", "name": "Acme Renamed"}}))
        .send()
        .await
        .expect(200);
}

async fn admin_creates_a_member(w: &World) {
    let user = w
        .app
        .create_user(&w.admin, "Member", "member@example.com")
        .await;
    w.remember("member", &user["id"]);
}

async fn admin_updates_the_member(w: &World) {
    w.app
        .put(&w.user_path("member"))
        .bearer(&w.admin)
        .json(json!({"data": {"type": "user_authentication_info", "given_name": "Mem"}}))
        .send()
        .await
        .expect(200);
}

async fn admin_adds_a_membership(w: &World) {
    let membership = w
        .app
        .add_membership(&w.admin, &w.id("account"), &w.id("member"))
        .await;
    w.remember("membership", &membership["id"]);
}

async fn refused_and_unchanged_memberships(w: &World) {
    w.app
        .post(&format!(
            "/v2/accounts/{}/account-memberships",
            w.id("account")
        ))
        .bearer(&w.admin)
        .json(json!({"data": {"type": "account_membership", "account_member_id": w.id("member")}}))
        .send()
        .await
        .expect(409);
    w.app
        .put(&format!(
            "/v2/accounts/{}/account-memberships/{}",
            w.id("account"),
            w.id("membership")
        ))
        .bearer(&w.admin)
        .json(json!({"data": {"type": "account_membership"}}))
        .send()
        .await
        .expect(200);
}

async fn admin_manages_password_logins(w: &World) {
    let info = w
        .app
        .create_password_info(
            &w.admin,
            &w.id("member"),
            &w.profile_id,
            "member@example.com",
            "first password",
        )
        .await;
    w.remember("login", &info["id"]);
    let logins = format!(
        "{}/user-authentication-password-profile-info",
        w.user_path("member")
    );
    w.app
        .put(&format!("{logins}/{}", w.id("login")))
        .bearer(&w.admin)
        .json(json!({"data": {"type": "user_authentication_password_profile_info", "password": "the member's password"}}))
        .send()
        .await
        .expect(200);
    let other = w
        .app
        .create_password_profile(
            &w.admin,
            json!({"type": "password_profile", "name": "Other"}),
        )
        .await;
    let second = w
        .app
        .create_password_info(
            &w.admin,
            &w.id("member"),
            other["id"].as_str().unwrap(),
            "member-elsewhere@example.com",
            "another password",
        )
        .await;
    w.app
        .delete(&format!("{logins}/{}", second["id"].as_str().unwrap()))
        .bearer(&w.admin)
        .send()
        .await
        .expect(204);
}

async fn the_member_logs_in_and_switches(w: &World) {
    w.app.clock.advance_seconds(1);
    let body = w
        .app
        .login(
            &w.implicit,
            &w.profile_id,
            "member@example.com",
            "the member's password",
        )
        .await
        .expect(201);
    let token = body["data"][0]["token"].as_str().unwrap().to_owned();
    let switched = w
        .app
        .post("/v2/account-members/tokens")
        .bearer(&w.implicit)
        .account_token(&token)
        .json(json!({"data": {"type": TOKEN_TYPE, "authentication_mechanism": TOKEN_TYPE}}))
        .send()
        .await
        .expect(201);
    w.ids.lock().unwrap().insert(
        "token",
        switched["data"][0]["token"].as_str().unwrap().to_owned(),
    );
}

async fn self_management_renames_the_member(w: &World) {
    w.app
        .put(&w.user_path("member"))
        .bearer(&w.implicit)
        .account_token(&w.id("token"))
        .json(json!({"data": {"type": "user_authentication_info", "name": "Renamed Myself"}}))
        .send()
        .await
        .expect(200);
}

async fn self_management_changes_the_password(w: &World) {
    w.app
        .put(&format!(
            "{}/user-authentication-password-profile-info/{}",
            w.user_path("member"),
            w.id("login")
        ))
        .bearer(&w.implicit)
        .account_token(&w.id("token"))
        .json(json!({"data": {"type": "user_authentication_password_profile_info", "password": "my own new password"}}))
        .send()
        .await
        .expect(200);
}

async fn admin_revokes_and_clears(w: &World) {
    for suffix in ["tokens", "lockout"] {
        w.app
            .delete(&format!("/v2/account-members/{}/{suffix}", w.id("member")))
            .bearer(&w.admin)
            .send()
            .await
            .expect(204);
    }
}

async fn admin_removes_the_membership(w: &World) {
    w.app
        .delete(&format!(
            "/v2/accounts/{}/account-memberships/{}",
            w.id("account"),
            w.id("membership")
        ))
        .bearer(&w.admin)
        .send()
        .await
        .expect(204);
}

async fn admin_deletes_an_account_with_members(w: &World) {
    let account = w.app.create_account(&w.admin, "Doomed").await;
    let account_id = account["id"].as_str().unwrap();
    let colleague = shopper_in(&w.app, &w.admin, &[]).await;
    w.app
        .add_membership(&w.admin, account_id, &w.id("member"))
        .await;
    w.app
        .add_membership(&w.admin, account_id, &colleague.member_id)
        .await;
    // Only the deletion is this path; what made its world was announced and is set aside.
    skip_emitted(w).await;
    w.app
        .delete(&format!("/v2/accounts/{account_id}"))
        .bearer(&w.admin)
        .send()
        .await
        .expect(204);
}

async fn admin_deletes_a_member_with_memberships(w: &World) {
    let leaver = shopper_in(&w.app, &w.admin, &["First", "Second"]).await;
    skip_emitted(w).await;
    w.app
        .delete(
            &w.app
                .realm_path(&format!("/user-authentication-info/{}", leaver.member_id)),
        )
        .bearer(&w.admin)
        .send()
        .await
        .expect(204);
}

async fn self_sign_up(w: &World) {
    let body = w.self_signup("signed-up@example.com").await;
    assert_eq!(body["data"], json!([]));
}

async fn self_sign_up_with_auto_create(w: &World) {
    w.set(json!({"auto_create_account_for_account_members": true}))
        .await;
    let body = w.self_signup("signed-up-with-account@example.com").await;
    w.set(json!({"auto_create_account_for_account_members": false}))
        .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
}

async fn oidc_first_sign_in(w: &World) {
    let tokens = oidc::sign_in(&w.app, &w.oidc).await;
    w.remember("oidc member", &tokens["meta"]["account_member_id"]);
}

async fn oidc_sign_in_unchanged(w: &World) {
    let tokens = oidc::sign_in(&w.app, &w.oidc).await;
    assert_eq!(tokens["meta"]["account_member_id"], w.id("oidc member"));
}

async fn oidc_sign_in_renamed(w: &World) {
    w.oidc.idp.set_claim("name", json!("Ann Renamed"));
    let tokens = oidc::sign_in(&w.app, &w.oidc).await;
    assert_eq!(tokens["meta"]["account_member_id"], w.id("oidc member"));
}

async fn oidc_first_sign_in_with_auto_create(w: &World) {
    w.set(json!({"auto_create_account_for_account_members": true}))
        .await;
    w.oidc.idp.set_claim("sub", json!("another-subject"));
    w.oidc
        .idp
        .set_claim("email", json!("another.person@example.com"));
    let tokens = oidc::sign_in(&w.app, &w.oidc).await;
    w.set(json!({"auto_create_account_for_account_members": false}))
        .await;
    assert_eq!(tokens["data"].as_array().unwrap().len(), 1);
}

async fn admin_manages_oidc_identities(w: &World) {
    let infos = format!(
        "{}/user-authentication-oidc-profile-info",
        w.user_path("member")
    );
    let info = w
        .app
        .post(&infos)
        .bearer(&w.admin)
        .json(json!({"data": {
            "type": "user_authentication_oidc_profile_info",
            "oidc_profile_id": w.oidc.profile["id"],
            "issuer": w.oidc.idp.issuer,
            "subject": "linked-by-an-admin",
        }}))
        .send()
        .await
        .expect(201);
    let path = format!("{infos}/{}", info["data"]["id"].as_str().unwrap());
    w.app
        .put(&path)
        .bearer(&w.admin)
        .json(json!({"data": {
            "type": "user_authentication_oidc_profile_info",
            "subject": "relinked-by-an-admin",
        }}))
        .send()
        .await
        .expect(200);
    w.app
        .delete(&path)
        .bearer(&w.admin)
        .send()
        .await
        .expect(204);
}

async fn a_one_time_code_is_requested(w: &World) {
    w.app
        .post(&w.app.realm_path(&format!(
            "/password-profiles/{}/one-time-password-token-request",
            w.profile_id
        )))
        .bearer(&w.implicit)
        .json(json!({"data": {"type": "one_time_password_token_request", "username": "member@example.com", "purpose": "reset_password"}}))
        .send()
        .await
        .expect(202);
}

/// Sets aside the events of a path's preparations so far: the table counts only what the path
/// itself emits. Preparations take paths the table checks on their own.
async fn skip_emitted(w: &World) {
    let emitted = w.app.outbox_events().await;
    w.prepared
        .lock()
        .unwrap()
        .extend(emitted.into_iter().map(|(id, _)| id));
}
