//! The list conventions every collection shares (docs/http-conventions.md): the filter language,
//! its compilation to parameterised SQL, and sorting. Pure functions; the store applies them.

pub mod filter;
pub mod sort;
pub mod sql;
