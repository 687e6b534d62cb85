//! The answer every mechanism ends with: one account token per membership, as the `201` token
//! list (docs/account-tokens.md#the-token-list).

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use uuid::Uuid;

use super::TOKEN_TYPE;
use crate::auth::jwt::{AccountClaims, encode_ancestors};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::ListParams;
use crate::http::response::{BODY_CAPACITY, PageLinks, PageMeta, Results, no_store, paginate};
use crate::state::AppState;
use crate::store::{Page, SelfManagement, TokenAccount};
use crate::time::Timestamp;

/// About what one item of a token list serializes to, for sizing the body (see `mint_tokens`).
const TOKEN_ITEM_BYTES: usize = 768;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct TokenList {
    meta: TokenListMeta,
    data: Vec<TokenItem>,
    links: PageLinks,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenListMeta {
    account_member_id: Uuid,
    page: PageMeta,
    results: Results,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenItem {
    #[serde(rename = "type")]
    kind: &'static str,
    account_name: String,
    account_id: Uuid,
    token: String,
    expires: Timestamp,
}

/// The `201` token list (docs/account-tokens.md#the-token-list): one token per membership, ordered
/// by account name then id, all sharing one `iat` and `exp`.
pub(super) async fn issue(
    state: &AppState,
    member_id: Uuid,
    params: &ListParams,
) -> ApiResult<Response> {
    let freshness = Freshness::CredentialsJustChecked;
    if let Some(issue) = state
        .store
        .token_issue(member_id, params.limit, params.offset)
        .await?
    {
        let minting = Minting {
            member_id,
            token_timeout_secs: issue.token_timeout_secs,
            self_management: issue.self_management,
            freshness,
        };
        return mint_tokens(state, &minting, params, issue.accounts);
    }
    issue_past_end(state, member_id, freshness, params).await
}

/// A page past the end of the member's accounts: no rows carry the settings and the total, so
/// they are read step by step.
pub(super) async fn issue_past_end(
    state: &AppState,
    member_id: Uuid,
    freshness: Freshness,
    params: &ListParams,
) -> ApiResult<Response> {
    let settings = state.store.auth_settings().await?;
    let accounts = state
        .store
        .token_accounts(member_id, params.limit, params.offset)
        .await?;
    let minting = Minting {
        member_id,
        token_timeout_secs: settings.token_timeout_secs,
        self_management: settings.account_member_self_management,
        freshness,
    };
    mint_tokens(state, &minting, params, accounts)
}

/// Who the tokens are for and the settings they carry.
pub(super) struct Minting {
    pub(super) member_id: Uuid,
    pub(super) token_timeout_secs: i64,
    pub(super) self_management: SelfManagement,
    pub(super) freshness: Freshness,
}

/// Where a token's `auth_time` comes from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Freshness {
    /// A password, one-time code, sign-up or OpenID Connect code was accepted just now: the
    /// tokens' own `iat`.
    CredentialsJustChecked,
    /// A switch: the presented token's, unchanged (none for a token minted without it).
    CarriedOver(Option<i64>),
}

pub(super) fn mint_tokens(
    state: &AppState,
    minting: &Minting,
    params: &ListParams,
    accounts: Page<TokenAccount>,
) -> ApiResult<Response> {
    let iat = state.clock.now().seconds();
    let exp = iat.saturating_add(minting.token_timeout_secs);
    let expires = Timestamp::from_seconds(exp);
    let auth_time = match minting.freshness {
        Freshness::CredentialsJustChecked => Some(iat),
        Freshness::CarriedOver(auth_time) => auth_time,
    };
    let mut data = Vec::with_capacity(accounts.items.len());
    for account in accounts.items {
        let claims = AccountClaims {
            sub: minting.member_id,
            scope: account.account_id,
            store_id: state.deployment.store_id,
            realm_id: state.deployment.realm_id,
            account_member_self_management: minting.self_management.as_str().to_owned(),
            ancestors: encode_ancestors(&account.ancestors),
            iat,
            exp,
            jti: Uuid::new_v4(),
            auth_time,
        };
        let token = state.keys.mint(&claims).map_err(ApiError::internal)?;
        data.push(TokenItem {
            kind: TOKEN_TYPE,
            account_name: account.account_name,
            account_id: account.account_id,
            token,
            expires,
        });
    }
    let (page, links) = paginate(
        &state.url("/v2/account-members/tokens"),
        params,
        accounts.total,
    );
    let list = TokenList {
        meta: TokenListMeta {
            account_member_id: minting.member_id,
            page,
            results: Results {
                total: accounts.total,
            },
        },
        data,
        links,
    };
    // Each token item is about 700 bytes (the JWT alone about 450): sized up front, the body
    // is written without regrowing.
    let capacity = BODY_CAPACITY + list.data.len() * TOKEN_ITEM_BYTES;
    Ok(no_store(crate::http::response::json(
        StatusCode::CREATED,
        &list,
        capacity,
    )))
}
