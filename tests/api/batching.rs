//! The token-checked read and the switch under concurrency. On PostgreSQL, requests that arrive
//! together share one batched statement (`store::batch`); each must still get exactly the answer
//! it gets alone — its own account, its own page, its own refusal — and the batches must really
//! have formed. SQLite answers one statement per request and must agree all the same.

use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{TestApp, account_tokens, shopper_in};
use crate::tests;

tests![
    concurrent_account_reads_each_get_their_own_answer,
    concurrent_switches_each_get_their_own_page,
];

const TOKEN_TYPE: &str = "account_management_authentication_token";
/// Each request of a case list goes this many times into one burst.
const REPEATS: usize = 8;

/// One request: where, with which tokens, and the answer it gave when it ran alone.
#[derive(Clone)]
struct Case {
    method: Method,
    path: String,
    bearer: String,
    account_token: String,
}

impl Case {
    fn new(method: Method, path: String, bearer: &str, account_token: &str) -> Self {
        Self {
            method,
            path,
            bearer: bearer.to_owned(),
            account_token: account_token.to_owned(),
        }
    }
}

/// The parts of an answer that must not depend on what ran beside it: the status and the body,
/// with freshly minted token strings replaced by their subject and scope.
type Answer = (u16, Value);

async fn send(client: reqwest::Client, address: String, case: Case) -> Answer {
    let mut request = client
        .request(case.method.clone(), format!("{address}{}", case.path))
        .bearer_auth(&case.bearer)
        .header(
            "EP-Account-Management-Authentication-Token",
            &case.account_token,
        );
    if case.method == Method::POST {
        request = request.json(&json!({"data": {
            "type": TOKEN_TYPE,
            "authentication_mechanism": TOKEN_TYPE,
        }}));
    }
    let response = request.send().await.expect("the request is answered");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON body");
    (status, without_token_strings(body))
}

/// Minted tokens differ run to run (`iat`, `exp`); who they are for must not.
fn without_token_strings(mut body: Value) -> Value {
    if let Some(items) = body["data"].as_array_mut() {
        for item in items {
            if let Some(token) = item["token"].as_str() {
                let (_, claims) = crate::helpers::jwt_parts(token);
                item["token"] = json!({"sub": claims["sub"], "scope": claims["scope"]});
            }
            if let Some(object) = item.as_object_mut() {
                object.remove("expires");
            }
        }
    }
    body
}

/// Runs every case alone, then all of them `REPEATS` times at once, and asserts that the burst
/// answered each request exactly as it was answered alone. Returns the lone answers.
async fn alone_and_together(app: &TestApp, cases: &[Case]) -> Vec<Answer> {
    let mut alone = Vec::with_capacity(cases.len());
    for case in cases {
        alone.push(send(app.client.clone(), app.address.clone(), case.clone()).await);
    }
    let mut burst = JoinSet::new();
    for round in 0..REPEATS {
        for (index, case) in cases.iter().enumerate() {
            let (client, address, case) = (app.client.clone(), app.address.clone(), case.clone());
            burst.spawn(async move { (round, index, send(client, address, case).await) });
        }
    }
    while let Some(joined) = burst.join_next().await {
        let (round, index, answer) = joined.expect("the request task finished");
        assert_eq!(
            answer, alone[index],
            "case {index} in round {round} answered differently inside the burst"
        );
    }
    alone
}

/// On PostgreSQL the burst must have shared statements, and `/metrics` must say so; SQLite
/// batches nothing and shows no batch families.
async fn assert_batched(app: &TestApp, statement: &str) {
    let stats = app.state.store.batch_stats();
    let scraped = app.management_get("/metrics").send().await;
    assert_eq!(scraped.status.as_u16(), 200);
    if app.state.store.backend() != "postgres" {
        assert!(stats.is_empty(), "SQLite reports no batches: {stats:?}");
        assert!(
            !scraped.text.contains("accountd_db_batch"),
            "{}",
            scraped.text
        );
        return;
    }
    let batch = stats
        .iter()
        .find(|batch| batch.statement == statement)
        .unwrap_or_else(|| panic!("no batch statistics for {statement}: {stats:?}"));
    assert!(
        batch.requests > batch.statements,
        "some {statement} statement served more than one request: {batch:?}"
    );
    let series = |name: &str| -> u64 {
        let prefix = format!("{name}{{statement=\"{statement}\"}} ");
        scraped
            .text
            .lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
    };
    // Nothing else runs meanwhile, so the scrape shows what the store counted.
    assert_eq!(series("accountd_db_batched_requests_total"), batch.requests);
    assert_eq!(
        series("accountd_db_batch_statements_total"),
        batch.statements
    );
}

/// Deletes the member's membership in the account and adds it again: tokens issued before the
/// current second belonged to the one that went.
async fn recreate_membership(app: &TestApp, admin: &str, account: &str, member: &str) {
    let memberships = app
        .get(&format!(
            "/v2/accounts/{account}/account-memberships?filter=eq(account_member_id,{member})"
        ))
        .bearer(admin)
        .send()
        .await
        .expect(200);
    let membership = memberships["data"][0]["id"].as_str().expect("a membership");
    app.delete(&format!(
        "/v2/accounts/{account}/account-memberships/{membership}"
    ))
    .bearer(admin)
    .send()
    .await
    .expect(204);
    app.add_membership(admin, account, member).await;
}

async fn concurrent_account_reads_each_get_their_own_answer(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let mut shoppers = Vec::new();
    for n in 0..3 {
        let names = [format!("Read {n} first"), format!("Read {n} second")];
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        shoppers.push(shopper_in(&app, &admin, &names).await);
    }
    let revoked = shopper_in(&app, &admin, &["Read revoked"]).await;
    let mut tokens = Vec::new();
    for shopper in &shoppers {
        tokens.push(account_tokens(&app, &implicit, shopper).await);
    }
    let revoked_token = account_tokens(&app, &implicit, &revoked).await.remove(0);
    let returning = shopper_in(&app, &admin, &["Read re-created"]).await;
    let returning_token = account_tokens(&app, &implicit, &returning).await.remove(0);
    app.clock.advance_seconds(2);
    app.delete(&format!("/v2/account-members/{}/tokens", revoked.member_id))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    recreate_membership(&app, &admin, &returning.accounts[0], &returning.member_id).await;

    let read = |account: &str, bearer: &str, token: &str| {
        Case::new(
            Method::GET,
            format!("/v2/accounts/{account}"),
            bearer,
            token,
        )
    };
    let mut cases = Vec::new();
    for (shopper, own) in shoppers.iter().zip(&tokens) {
        for (account, token) in own {
            cases.push(read(account, &implicit, token));
        }
        // The member's other account, with the first account's token.
        cases.push(read(&own[1].0, &implicit, &own[0].1));
        cases.push(read(&shopper.accounts[0], "not-a-bearer-token", &own[0].1));
    }
    cases.push(read(&revoked_token.0, &implicit, &revoked_token.1));
    cases.push(read(&returning_token.0, &implicit, &returning_token.1));
    cases.push(read(
        &uuid::Uuid::new_v4().to_string(),
        &implicit,
        &tokens[0][0].1,
    ));

    let answers = alone_and_together(&app, &cases).await;
    // What each answered alone is itself right: an own account is read, everything else refused.
    for (case, (status, body)) in cases.iter().zip(&answers) {
        let own = tokens.iter().flatten().any(|(account, token)| {
            case.path.ends_with(account.as_str()) && &case.account_token == token
        });
        if own && case.bearer == implicit {
            assert_eq!(*status, 200, "{}: {body}", case.path);
            assert!(
                case.path
                    .ends_with(body["data"]["id"].as_str().expect("an id"))
            );
        } else {
            assert!(
                [401, 403, 404].contains(status),
                "{} refused: {status} {body}",
                case.path
            );
            assert!(body["errors"][0]["detail"].is_string(), "{body}");
        }
    }
    for refused in &answers[cases.len() - 3..cases.len() - 1] {
        assert_eq!(refused.0, 401, "{}", refused.1);
    }
    assert_batched(&app, "account_read").await;
}

async fn concurrent_switches_each_get_their_own_page(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let one = shopper_in(&app, &admin, &["Solo"]).await;
    let three = shopper_in(&app, &admin, &["Trio A", "Trio B", "Trio C"]).await;
    let orphaned = shopper_in(&app, &admin, &["Orphan"]).await;
    let one_token = account_tokens(&app, &implicit, &one).await.remove(0).1;
    let three_token = account_tokens(&app, &implicit, &three).await.remove(0).1;
    let orphaned_token = account_tokens(&app, &implicit, &orphaned).await.remove(0).1;
    let returning = shopper_in(&app, &admin, &["Returning"]).await;
    let returning_token = account_tokens(&app, &implicit, &returning)
        .await
        .remove(0)
        .1;
    app.clock.advance_seconds(1);
    recreate_membership(&app, &admin, &returning.accounts[0], &returning.member_id).await;
    // The orphan's only membership goes: its token dies, and it has no accounts left.
    let memberships = app
        .get(&format!(
            "/v2/accounts/{}/account-memberships",
            orphaned.accounts[0]
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let membership = memberships["data"][0]["id"].as_str().expect("a membership");
    app.delete(&format!(
        "/v2/accounts/{}/account-memberships/{membership}",
        orphaned.accounts[0]
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);

    let switch = |query: &str, bearer: &str, token: &str| {
        Case::new(
            Method::POST,
            format!("/v2/account-members/tokens{query}"),
            bearer,
            token,
        )
    };
    let cases = vec![
        switch("", &implicit, &one_token),
        switch("", &implicit, &three_token),
        switch("?page[limit]=1&page[offset]=1", &implicit, &three_token),
        switch("?page[limit]=2&page[offset]=2", &implicit, &three_token),
        switch("?page[offset]=7", &implicit, &three_token),
        switch("", "not-a-bearer-token", &three_token),
        switch("", &implicit, &orphaned_token),
        switch("", &implicit, &returning_token),
    ];
    let answers = alone_and_together(&app, &cases).await;

    let names = |answer: &Answer| -> Vec<String> {
        answer.1["data"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|item| item["account_name"].as_str().unwrap_or("?").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(answers[0].0, 201);
    assert_eq!(names(&answers[0]), ["Solo"]);
    assert_eq!(names(&answers[1]), ["Trio A", "Trio B", "Trio C"]);
    assert_eq!(names(&answers[2]), ["Trio B"]);
    assert_eq!(names(&answers[3]), ["Trio C"]);
    assert_eq!(answers[3].1["meta"]["results"]["total"], 3);
    assert_eq!(answers[4].0, 201);
    assert!(names(&answers[4]).is_empty());
    for answer in &answers[1..4] {
        let subjects: Vec<&Value> = answer.1["data"]
            .as_array()
            .expect("tokens")
            .iter()
            .map(|item| &item["token"]["sub"])
            .collect();
        assert!(
            subjects.iter().all(|sub| *sub == three.member_id.as_str()),
            "every token is the trio member's: {subjects:?}"
        );
    }
    assert_eq!(answers[5].0, 401);
    assert_eq!(answers[6].0, 401, "{}", answers[6].1);
    assert_eq!(answers[7].0, 401, "{}", answers[7].1);
    assert_batched(&app, "switch").await;
}
