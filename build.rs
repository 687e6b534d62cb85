//! The migrations are embedded in the binary by `sqlx::migrate!`, which Cargo does not know reads
//! `migrations/`: without this, a new migration file is left out of a build that finds nothing
//! else changed.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
