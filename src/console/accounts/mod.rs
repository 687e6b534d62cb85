//! The accounts pages: the list with its search (`list.rs`), one account with its place in the
//! tree (`detail.rs`, `children.rs`) and its members (`memberships.rs`), and the create, edit
//! and delete forms (`create.rs`, `edit.rs`, `delete.rs`).

mod children;
mod create;
mod delete;
mod detail;
mod edit;
mod list;
mod memberships;

pub use create::{create, new_form};
pub use delete::{confirm as confirm_delete, delete};
pub use detail::show;
pub use edit::{edit_form, update};
pub use list::list;
pub use memberships::{add as add_member, remove as remove_membership};

use serde::Deserialize;
use uuid::Uuid;

/// An account as the API answers it, as far as the pages show it.
#[derive(Debug, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub legal_name: Option<String>,
    pub registration_id: Option<String>,
    pub external_ref: Option<String>,
    pub parent_id: Option<Uuid>,
    pub meta: Meta,
    pub relationships: Relationships,
}

#[derive(Debug, Deserialize)]
pub struct Meta {
    pub timestamps: Timestamps,
}

#[derive(Debug, Deserialize)]
pub struct Timestamps {
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
pub struct Relationships {
    /// Root first.
    pub ancestors: Vec<Reference>,
}

#[derive(Debug, Deserialize)]
pub struct Reference {
    pub data: ReferenceData,
}

#[derive(Debug, Deserialize)]
pub struct ReferenceData {
    pub id: Uuid,
}

/// The console page of account `id`.
pub fn path(id: Uuid) -> String {
    format!("/admin/accounts/{id}")
}
