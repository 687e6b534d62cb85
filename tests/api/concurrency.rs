//! Load inside the suite, for correctness only (timing targets live in `bench/`): concurrent
//! logins and admin writes must all succeed, on SQLite too, where one writer serialises writes.

use serde_json::json;

use crate::helpers::{TestApp, shopper_in};
use crate::tests;

tests![fifty_concurrent_logins_and_admin_writes_complete_without_server_errors];

async fn fifty_concurrent_logins_and_admin_writes_complete_without_server_errors(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    // Ten members logging in five times each at once: no more than five attempts of one member
    // from one address are ever in progress, which is what the throttle lets through.
    let mut shoppers = Vec::new();
    for _ in 0..10 {
        shoppers.push(shopper_in(&app, &admin, &["A", "B"]).await);
    }
    let mut tasks = Vec::new();
    for index in 0..50 {
        let login = app.spawned_login(&implicit, &shoppers[index % 10]);
        tasks.push(tokio::spawn(async move {
            (201, login.await.map(|r| r.status().as_u16()).unwrap_or(0))
        }));
    }
    for index in 0..25 {
        let client = app.client.clone();
        let base = app.address.clone();
        let realm = app.realm_id;
        let bearer = admin.clone();
        tasks.push(tokio::spawn(async move {
            let account = client
                .post(format!("{base}/v2/accounts"))
                .bearer_auth(&bearer)
                .json(&json!({"data": {"type": "account", "name": format!("Concurrent {index}")}}))
                .send()
                .await;
            let user = client
                .post(format!("{base}/v2/authentication-realms/{realm}/user-authentication-info"))
                .bearer_auth(&bearer)
                .json(&json!({"data": {"type": "user_authentication_info", "name": "C", "email": format!("c{index}@example.com")}}))
                .send()
                .await;
            let statuses = [account, user].map(|reply| reply.map(|r| r.status().as_u16()).unwrap_or(0));
            (201, if statuses == [201, 201] { 201 } else { statuses[0].max(statuses[1]) })
        }));
    }
    for task in tasks {
        let (expected, status) = task.await.unwrap();
        assert_eq!(status, expected, "a concurrent request failed");
    }
    let accounts = app
        .get("/v2/accounts")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(accounts["meta"]["results"]["total"], 25 + 2 * 10);
}
