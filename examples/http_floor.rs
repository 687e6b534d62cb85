//! The floors under target 2 of `bench/run`: the cheapest HTTP endpoints that ask PostgreSQL once
//! per request on this stack, with no authentication, no JSON and no middleware.
//!
//! - `GET /{aid}` runs pgbench's own `-S` statement (`SELECT abalance FROM pgbench_accounts WHERE
//!   aid = $1`) on a connection of the same lean pool accountd uses. A token-checked read cannot
//!   beat it: `floor ÷ pgbench` is the most any design on axum, hyper and sqlx reaches here.
//! - `GET /holder` (when started with a read to make) runs accountd's own store call for a
//!   token-checked account read (`Store::account_as_holder`: the bearer check, the account
//!   token's liveness and the account row in one statement, batched under load) and answers the
//!   account's name. What separates accountd's read from this is its HTTP layer alone (header
//!   parsing, JWT verification, middleware, JSON); what separates this from the first floor is
//!   the statement the bearer and account token checks need.
//! - `GET /switch` (with the same arguments) runs accountd's store call for the switch
//!   mechanism (`Store::switch_as_holder`: the same checks, the settings and the member's accounts
//!   in one statement, batched under load) and answers how many accounts it found: the switch
//!   minus its HTTP layer, its three JWTs and their JSON.
//!
//! ```text
//! cargo run --release --example http_floor -- <database-url> <listen-address> \
//!     [<bearer-sha256-hex> <member-id> <token-account-id> <iat> <account-id>]
//! ```

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use accountd::store::lean_pool::LeanPool;
use accountd::store::{HolderCheck, Store};
use accountd::time::{Clock, SystemClock};
use accountd::wire::Links;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

const USAGE: &str = "usage: http_floor <database-url> <listen-address> \
    [<bearer-sha256-hex> <member-id> <token-account-id> <iat> <account-id>]";

async fn balance(
    State(floor): State<Arc<Floor>>,
    Path(aid): Path<i32>,
) -> Result<String, StatusCode> {
    let balance: Option<i32> = floor
        .pool
        .run(&aid, |connection, aid| {
            Box::pin(
                sqlx::query_scalar("SELECT abalance FROM pgbench_accounts WHERE aid = $1")
                    .bind(*aid)
                    .fetch_optional(connection),
            )
        })
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    balance
        .map(|value| value.to_string())
        .ok_or(StatusCode::NOT_FOUND)
}

/// The store, the configured checks stamped with the current time, and the account to read.
fn holder_checks(floor: &Floor) -> Result<(&dyn Store, HolderCheck, Uuid), StatusCode> {
    let (store, read) = floor.holder.as_ref().ok_or(StatusCode::NOT_FOUND)?;
    let check = HolderCheck {
        now: SystemClock.now(),
        ..read.check
    };
    Ok((store.as_ref(), check, read.account_id))
}

async fn token_checked(State(floor): State<Arc<Floor>>) -> Result<String, StatusCode> {
    let (store, check, account_id) = holder_checks(&floor)?;
    let answer = store
        .account_as_holder(&check, account_id)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    // The same three conditions the real read refuses on, so a wrong set-up cannot pass.
    match (answer.bearer, answer.live, answer.account) {
        (Some(_), true, Some(account)) => Ok(account.name),
        _ => Err(StatusCode::FORBIDDEN),
    }
}

async fn switch_checked(State(floor): State<Arc<Floor>>) -> Result<String, StatusCode> {
    let (store, check, _) = holder_checks(&floor)?;
    // The first page at the default page length, as the benchmark's switch asks for.
    let view = store
        .switch_as_holder(&check, 25, 0)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .ok_or(StatusCode::NOT_FOUND)?;
    match (view.bearer, view.live) {
        (Some(_), true) => Ok(view.accounts.items.len().to_string()),
        _ => Err(StatusCode::FORBIDDEN),
    }
}

struct HolderRead {
    check: HolderCheck,
    account_id: Uuid,
}

struct Floor {
    pool: LeanPool,
    holder: Option<(Arc<dyn Store>, HolderRead)>,
}

fn parse_holder_read(args: &[String]) -> Result<Option<HolderRead>, String> {
    let [hash, member, token_account, iat, account] = args else {
        return if args.is_empty() {
            Ok(None)
        } else {
            Err(USAGE.to_owned())
        };
    };
    let uuid = |text: &str| Uuid::parse_str(text).map_err(|e| format!("{text}: {e}"));
    let hash = hex::decode(hash).map_err(|e| format!("bearer hash: {e}"))?;
    Ok(Some(HolderRead {
        check: HolderCheck {
            bearer_hash: hash
                .try_into()
                .map_err(|_| "the bearer hash must be 32 bytes")?,
            now: SystemClock.now(),
            member_id: uuid(member)?,
            token_account_id: uuid(token_account)?,
            iat: iat.parse().map_err(|e| format!("iat: {e}"))?,
        },
        account_id: uuid(account)?,
    }))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, listen, holder_args @ ..] = args.as_slice() else {
        return Err(USAGE.to_owned());
    };
    let holder_read = parse_holder_read(holder_args)?;
    let options = PgConnectOptions::from_str(url).map_err(|e| format!("database URL: {e}"))?;
    let pool = LeanPool::new(options, 8, Duration::from_secs(10));
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async move {
        let holder = match holder_read {
            None => None,
            Some(read) => {
                let links = Arc::new(Links::new("http://127.0.0.1"));
                let store = accountd::store::connect(url, links)
                    .await
                    .map_err(|e| format!("store: {e}"))?;
                Some((store, read))
            }
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("listen on {listen}: {e}"))?;
        let app = Router::new()
            .route("/holder", get(token_checked))
            .route("/switch", get(switch_checked))
            .route("/{aid}", get(balance))
            .with_state(Arc::new(Floor { pool, holder }));
        axum::serve(listener, app)
            .await
            .map_err(|e| format!("serve: {e}"))
    })
}
