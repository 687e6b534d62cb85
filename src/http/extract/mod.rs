//! Request extractors: who is calling, the JSON body, and list query parameters.

pub mod body;
pub mod caller;
pub mod client;
pub mod list;
pub mod path;

pub use body::JsonBody;
pub use caller::{AccountHolder, Admin, AuditedCaller, Caller, Reader};
pub use client::ClientAddress;
pub use list::ListParams;
pub use path::{Ids, path_id};
