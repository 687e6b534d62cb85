//! Moving members in and out (docs/moving-in.md): `accountd import` reads JSON Lines (or CSV
//! member rows) into transactional batches written as the admin API writes them, and
//! `accountd export` writes the same format back, so an export imports again unchanged.

pub mod export;
pub mod from_api;
pub mod import;
pub mod progress;
pub mod records;
