//! The `Store` trait driven directly, the same story on every backend: whatever one backend
//! answers, the other must answer too.

use accountd::query::filter;
use accountd::store::{
    AccountPatch, BootstrapPlan, ChangedBy, Conflict, DuplicateEmailPolicy, Entity, FirstStart,
    ListQuery, NewAccount, NewPasswordProfile, NewPasswordProfileInfo, NewUser,
    PasswordProfileInfoPatch, RealmPatch, StoreError, UserPatch, UsernameFormat,
};
use accountd::time::Timestamp;
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::tests;

tests![
    first_start_is_idempotent_and_refuses_a_different_store_id,
    a_bootstrap_key_is_generated_only_while_none_exists,
    timestamps_keep_their_milliseconds,
    usernames_are_unique_per_profile_in_their_unicode_lower_case,
    patches_change_only_what_they_name,
    email_uniqueness_is_checked_only_when_asked,
    account_hierarchy_and_cascades,
    lists_filter_and_sort_byte_wise,
    token_accounts_and_liveness,
];

fn query(filter_text: Option<&str>, sort: Option<&str>) -> ListQuery {
    ListQuery {
        filter: filter_text
            .map(|text| filter::parse(text).expect("a valid filter"))
            .unwrap_or_default(),
        sort: sort.map(str::to_owned),
        limit: 100,
        offset: 0,
    }
}

fn user(name: &str, email: &str) -> NewUser {
    NewUser {
        name: name.to_owned(),
        email: email.to_owned(),
        given_name: None,
        middle_name: None,
        family_name: None,
    }
}

fn account(name: &str, parent_id: Option<Uuid>) -> NewAccount {
    NewAccount {
        name: name.to_owned(),
        legal_name: None,
        registration_id: None,
        external_ref: None,
        parent_id,
    }
}

fn first_start(store_id: Option<Uuid>, plan: BootstrapPlan) -> FirstStart {
    FirstStart {
        configured_store_id: store_id,
        new_store_id: Uuid::new_v4(),
        new_realm_id: Uuid::new_v4(),
        new_auth_settings_id: Uuid::new_v4(),
        new_membership_settings_id: Uuid::new_v4(),
        generated_jwt_key: None,
        bootstrap_key: plan,
        now: Timestamp::from_millis(1_700_000_000_000),
    }
}

async fn first_start_is_idempotent_and_refuses_a_different_store_id(app: TestApp) {
    let store = &app.state.store;
    let plan = BootstrapPlan::Configured {
        client_id: crate::helpers::CLIENT_ID.to_owned(),
        secret_hash: accountd::auth::secret::sha256(crate::helpers::CLIENT_SECRET.as_bytes()),
    };
    let again = store
        .initialise(&first_start(None, plan.clone()))
        .await
        .unwrap();
    assert_eq!(again.deployment, app.state.deployment);
    let same = app.state.deployment.store_id;
    assert!(
        store
            .initialise(&first_start(Some(same), plan.clone()))
            .await
            .is_ok()
    );
    let error = store
        .initialise(&first_start(Some(Uuid::new_v4()), plan))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::StoreIdMismatch), "{error:?}");
}

async fn a_bootstrap_key_is_generated_only_while_none_exists(app: TestApp) {
    let store = &app.state.store;
    // The configured key exists, so nothing is generated; it stops being managed.
    let generate = BootstrapPlan::GenerateIfNone {
        client_id: "generated".to_owned(),
        secret_hash: [1; 32],
    };
    let outcome = store
        .initialise(&first_start(None, generate))
        .await
        .unwrap();
    assert!(!outcome.generated_bootstrap_key);
    assert!(store.find_client("generated").await.unwrap().is_none());
    assert!(
        store
            .find_client(crate::helpers::CLIENT_ID)
            .await
            .unwrap()
            .is_some()
    );
}

async fn timestamps_keep_their_milliseconds(app: TestApp) {
    let store = &app.state.store;
    let at = Timestamp::from_millis(1_719_445_524_070);
    let created = store
        .create_account(&account("Precise", None), at, &crate::helpers::by_test())
        .await
        .unwrap();
    let read = store.account(created.id).await.unwrap();
    assert_eq!(read.created_at, at);
    assert_eq!(read.created_at.to_string(), "2024-06-26T23:45:24.070Z");
    let matched = store
        .list_accounts(
            &query(Some("eq(created_at,2024-06-26T23:45:24.070Z)"), None),
            None,
        )
        .await
        .unwrap();
    assert_eq!(matched.total, 1);
}

async fn usernames_are_unique_per_profile_in_their_unicode_lower_case(app: TestApp) {
    let store = &app.state.store;
    let now = app.clock_now();
    let profile = store
        .create_password_profile(
            &NewPasswordProfile {
                name: "P".to_owned(),
                username_format: UsernameFormat::Any,
                enable_one_time_password_token: false,
            },
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let first = store
        .create_user(
            &user("A", "a@example.com"),
            ChangedBy::Admin,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let second = store
        .create_user(
            &user("B", "b@example.com"),
            ChangedBy::Admin,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let info = |user_id, username: &str| NewPasswordProfileInfo {
        user_id,
        password_profile_id: profile.id,
        username: username.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
            .to_owned(),
    };
    store
        .create_password_profile_info(&info(first.id, "ÄRGER"), now, &crate::helpers::by_test())
        .await
        .unwrap();
    let clash = store
        .create_password_profile_info(&info(second.id, "ärger"), now, &crate::helpers::by_test())
        .await
        .unwrap_err();
    assert!(
        matches!(clash, StoreError::Conflict(Conflict::UsernameTaken)),
        "{clash:?}"
    );
    let found = store
        .find_login(profile.id, "ärger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user_id, first.id);
    assert!(
        store
            .find_login(profile.id, "ÄRGER")
            .await
            .unwrap()
            .is_none(),
        "callers fold first"
    );
    let twice = store
        .create_password_profile_info(&info(first.id, "other"), now, &crate::helpers::by_test())
        .await
        .unwrap_err();
    assert!(
        matches!(twice, StoreError::Conflict(Conflict::ProfileInfoExists)),
        "{twice:?}"
    );
    let missing = store
        .create_password_profile_info(
            &info(Uuid::new_v4(), "ghost"),
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound(Entity::UserInfo)),
        "{missing:?}"
    );
}

async fn patches_change_only_what_they_name(app: TestApp) {
    let store = &app.state.store;
    let now = app.clock_now();
    let mut new_user = user("Name", "n@example.com");
    new_user.given_name = Some("Given".to_owned());
    let created = store
        .create_user(&new_user, ChangedBy::Admin, now, &crate::helpers::by_test())
        .await
        .unwrap();
    let later = Timestamp::from_millis(now.millis() + 1000);
    let unchanged = store
        .update_user(
            created.id,
            &UserPatch {
                name: Some("Name".to_owned()),
                ..UserPatch::default()
            },
            ChangedBy::Admin,
            later,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    assert_eq!(unchanged.updated_at, created.updated_at);
    let cleared = store
        .update_user(
            created.id,
            &UserPatch {
                given_name: Some(None),
                ..UserPatch::default()
            },
            ChangedBy::Admin,
            later,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    assert_eq!(cleared.given_name, None);
    assert_eq!(cleared.name, "Name");
    assert_eq!(cleared.updated_at, later);
    assert_eq!(store.user(created.id).await.unwrap(), cleared);
    let renamed = store
        .update_account(
            store
                .create_account(&account("Old", None), now, &crate::helpers::by_test())
                .await
                .unwrap()
                .id,
            &AccountPatch {
                legal_name: Some(Some("Legal".to_owned())),
                ..AccountPatch::default()
            },
            later,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.legal_name.as_deref()),
        ("Old", Some("Legal"))
    );
}

async fn email_uniqueness_is_checked_only_when_asked(app: TestApp) {
    let store = &app.state.store;
    let now = app.clock_now();
    let set_policy = |policy| RealmPatch {
        duplicate_email_policy: Some(policy),
        ..RealmPatch::default()
    };
    store
        .create_user(
            &user("A", "Same@Example.com"),
            ChangedBy::User,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    store
        .create_user(
            &user("B", "same@example.com"),
            ChangedBy::User,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    store
        .update_realm(
            &set_policy(DuplicateEmailPolicy::ApiOnly),
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    store
        .create_user(
            &user("C", "SAME@example.com"),
            ChangedBy::Admin,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let refused = store
        .create_user(
            &user("D", "same@EXAMPLE.com"),
            ChangedBy::User,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::Conflict(Conflict::EmailTaken)),
        "{refused:?}"
    );
    store
        .update_realm(
            &set_policy(DuplicateEmailPolicy::Disallowed),
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let refused = store
        .create_user(
            &user("E", "SAME@EXAMPLE.COM"),
            ChangedBy::Admin,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::Conflict(Conflict::EmailTaken)),
        "{refused:?}"
    );
    // An update that keeps the email (in another case) is not a new duplicate.
    let fresh = store
        .create_user(
            &user("F", "fresh@example.com"),
            ChangedBy::Admin,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let patch = UserPatch {
        email: Some("Fresh@Example.com".into()),
        ..UserPatch::default()
    };
    store
        .update_user(
            fresh.id,
            &patch,
            ChangedBy::User,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
}

async fn account_hierarchy_and_cascades(app: TestApp) {
    let store = &app.state.store;
    let now = app.clock_now();
    let root = store
        .create_account(&account("Root", None), now, &crate::helpers::by_test())
        .await
        .unwrap();
    let child = store
        .create_account(
            &account("Child", Some(root.id)),
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let grandchild = store
        .create_account(
            &account("Grandchild", Some(child.id)),
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    assert_eq!(grandchild.ancestors, vec![root.id, child.id]);
    let orphan = store
        .create_account(
            &account("Orphan", Some(Uuid::new_v4())),
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(orphan, StoreError::NotFound(Entity::ParentAccount)),
        "{orphan:?}"
    );
    let refused = store
        .delete_account(child.id, now, &crate::helpers::by_test())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::Conflict(Conflict::AccountHasChildren)),
        "{refused:?}"
    );
    let member = store
        .create_user(
            &user("M", "m@example.com"),
            ChangedBy::Admin,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let membership = store
        .create_membership(grandchild.id, member.id, now, &crate::helpers::by_test())
        .await
        .unwrap();
    store
        .delete_account(grandchild.id, now, &crate::helpers::by_test())
        .await
        .unwrap();
    let gone = store
        .membership(grandchild.id, membership.id)
        .await
        .unwrap_err();
    assert!(
        matches!(gone, StoreError::NotFound(Entity::Membership)),
        "{gone:?}"
    );
    store
        .delete_account(child.id, now, &crate::helpers::by_test())
        .await
        .unwrap();
    store
        .create_membership(root.id, member.id, now, &crate::helpers::by_test())
        .await
        .unwrap();
    store
        .delete_user(member.id, now, &crate::helpers::by_test())
        .await
        .unwrap();
    assert_eq!(
        store
            .list_memberships(root.id, &query(None, None))
            .await
            .unwrap()
            .total,
        0
    );
}

async fn lists_filter_and_sort_byte_wise(app: TestApp) {
    let store = &app.state.store;
    let now = app.clock_now();
    for name in ["b", "B", "a", "ä", "A_1", "A%1"] {
        store
            .create_account(&account(name, None), now, &crate::helpers::by_test())
            .await
            .unwrap();
    }
    let names = |page: accountd::store::Page<accountd::store::Account>| -> Vec<String> {
        page.items.into_iter().map(|account| account.name).collect()
    };
    let sorted = store
        .list_accounts(&query(None, Some("name")), None)
        .await
        .unwrap();
    assert_eq!(names(sorted), ["A%1", "A_1", "B", "a", "b", "ä"]);
    let like = store
        .list_accounts(&query(Some("like(name,A_*)"), Some("name")), None)
        .await
        .unwrap();
    assert_eq!(names(like), ["A_1"]);
    let ilike = store
        .list_accounts(&query(Some("ilike(name,a*)"), Some("name")), None)
        .await
        .unwrap();
    assert_eq!(
        names(ilike),
        ["A%1", "A_1", "a"],
        "ilike folds ASCII only: ä is not a"
    );
    let unknown = store
        .list_accounts(&query(Some("eq(colour,red)"), None), None)
        .await
        .unwrap_err();
    assert!(matches!(unknown, StoreError::InvalidFilter), "{unknown:?}");
    let bad_sort = store
        .list_accounts(&query(None, Some("colour")), None)
        .await
        .unwrap_err();
    assert!(matches!(bad_sort, StoreError::InvalidSort), "{bad_sort:?}");
}

async fn token_accounts_and_liveness(app: TestApp) {
    let store = &app.state.store;
    let now = app.clock_now();
    let member = store
        .create_user(
            &user("M", "m@example.com"),
            ChangedBy::Admin,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let zeta = store
        .create_account(&account("zeta", None), now, &crate::helpers::by_test())
        .await
        .unwrap();
    let alpha = store
        .create_account(
            &account("Alpha", Some(zeta.id)),
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    store
        .create_membership(zeta.id, member.id, now, &crate::helpers::by_test())
        .await
        .unwrap();
    store
        .create_membership(alpha.id, member.id, now, &crate::helpers::by_test())
        .await
        .unwrap();
    let accounts = store.token_accounts(member.id, 25, 0).await.unwrap();
    assert_eq!(accounts.total, 2);
    assert_eq!(accounts.items[0].account_name, "Alpha");
    assert_eq!(accounts.items[0].ancestors, vec![zeta.id]);

    // The one-statement issue read agrees with the settings and the step-by-step page.
    let settings = store.auth_settings().await.unwrap();
    let issue = store.token_issue(member.id, 25, 0).await.unwrap().unwrap();
    assert_eq!(issue.token_timeout_secs, settings.token_timeout_secs);
    assert_eq!(
        issue.self_management,
        settings.account_member_self_management
    );
    assert_eq!(issue.accounts.total, 2);
    let names: Vec<_> = issue
        .accounts
        .items
        .iter()
        .map(|a| a.account_name.as_str())
        .collect();
    assert_eq!(names, ["Alpha", "zeta"], "byte-wise name order");
    assert_eq!(issue.accounts.items[0].ancestors, vec![zeta.id]);
    let second_page = store.token_issue(member.id, 1, 1).await.unwrap().unwrap();
    assert_eq!(second_page.accounts.total, 2);
    assert_eq!(second_page.accounts.items.len(), 1);
    assert_eq!(second_page.accounts.items[0].account_id, zeta.id);
    assert!(
        store.token_issue(member.id, 25, 2).await.unwrap().is_none(),
        "a page past the end is left to the step-by-step reads"
    );
    let loner = store
        .create_user(
            &user("L", "l@example.com"),
            ChangedBy::Admin,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let empty = store.token_issue(loner.id, 25, 0).await.unwrap().unwrap();
    assert_eq!((empty.accounts.total, empty.accounts.items.len()), (0, 0));
    assert_eq!(empty.token_timeout_secs, settings.token_timeout_secs);
    assert!(
        store
            .account_token_is_live(member.id, alpha.id, now.seconds())
            .await
            .unwrap()
    );
    assert!(
        !store
            .account_token_is_live(member.id, Uuid::new_v4(), now.seconds())
            .await
            .unwrap()
    );
    // A password change at `later` revokes tokens issued before that second.
    let profile = store
        .create_password_profile(
            &NewPasswordProfile {
                name: "P".into(),
                username_format: UsernameFormat::Any,
                enable_one_time_password_token: false,
            },
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let info = store
        .create_password_profile_info(
            &NewPasswordProfileInfo {
                user_id: member.id,
                password_profile_id: profile.id,
                username: "m".into(),
                password_hash: "x".into(),
            },
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let later = Timestamp::from_millis(now.millis() + 5_500);
    store
        .update_password_profile_info(
            member.id,
            info.id,
            &PasswordProfileInfoPatch {
                username: None,
                password_hash: Some("y".into()),
            },
            later,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    assert!(
        !store
            .account_token_is_live(member.id, alpha.id, later.seconds() - 1)
            .await
            .unwrap()
    );
    assert!(
        store
            .account_token_is_live(member.id, alpha.id, later.seconds())
            .await
            .unwrap()
    );
}
