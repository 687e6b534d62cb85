//! Application keys: the list with its create form and the answer that shows a new key's secret
//! once (`list.rs`), and deleting a key after a confirmation (`delete.rs`).

mod delete;
mod list;

pub use delete::{confirm_delete, delete};
pub use list::{create, list};

use serde::Deserialize;
use uuid::Uuid;

const LIST_PATH: &str = "/admin/application-keys";

/// An application key as the API answers it, as far as the pages show it.
#[derive(Debug, Deserialize)]
struct ApplicationKey {
    id: Uuid,
    name: String,
    client_id: String,
    meta: Meta,
}

#[derive(Debug, Deserialize)]
struct Meta {
    timestamps: Timestamps,
}

#[derive(Debug, Deserialize)]
struct Timestamps {
    created_at: String,
    last_used_at: Option<String>,
}

/// The confirmation page, and the address its form posts to.
fn delete_path(id: Uuid) -> String {
    format!("{LIST_PATH}/{id}/delete")
}
