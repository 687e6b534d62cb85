//! The account members pages: the list with its search (`list.rs`), the create form
//! (`create.rs`), one member with its logins, memberships and OIDC identities (`detail.rs`), and
//! what an admin does to a member from there (`actions.rs`). A member is created and given its
//! password through the realm's user authentication info, as the API does it.

mod actions;
mod create;
mod detail;
mod list;

pub use actions::{add_membership, clear_lockout, remove_membership, revoke_tokens, set_password};
pub use create::{create, create_password_profile, new_form};
pub use detail::show;
pub use list::list;

use serde::Deserialize;
use uuid::Uuid;

use super::accounts::Meta;

/// An account member as the API answers it, as far as the pages show it.
#[derive(Debug, Deserialize)]
pub struct Member {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub meta: Meta,
}

/// The console page of member `id`.
pub fn path(id: Uuid) -> String {
    format!("/admin/members/{id}")
}

/// The API's address of `rest` under the deployment's realm's user `member`.
fn realm_user_path(realm_id: Uuid, member: Uuid, rest: &str) -> String {
    format!("/v2/authentication-realms/{realm_id}/user-authentication-info/{member}{rest}")
}
