//! Integrations (webhooks): the list with its create form (`list.rs`), and one integration with
//! its delivery log and a button that sends it a test event (`detail.rs`). The secret key is
//! never written into a page.

mod detail;
mod list;

pub use detail::{send_test_event, show};
pub use list::{create, list};

use serde::Deserialize;
use uuid::Uuid;

const LIST_PATH: &str = "/admin/integrations";

/// An integration as the API answers it, as far as the pages show it.
#[derive(Debug, Deserialize)]
struct Integration {
    id: Uuid,
    name: String,
    description: Option<String>,
    enabled: bool,
    integration_type: String,
    observes: Vec<String>,
    configuration: Configuration,
    meta: Meta,
}

#[derive(Debug, Deserialize)]
struct Configuration {
    url: String,
    send_secret_key: bool,
}

#[derive(Debug, Deserialize)]
struct Meta {
    timestamps: Timestamps,
}

#[derive(Debug, Deserialize)]
struct Timestamps {
    created_at: String,
    updated_at: String,
}

/// The console page of integration `id`.
fn path(id: Uuid) -> String {
    format!("{LIST_PATH}/{id}")
}
