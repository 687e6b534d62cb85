//! The list conventions every collection shares (§4.6–§4.7): the filter language, its
//! compilation to parameterised SQL, and sorting. Pure functions; the store applies them.

pub mod filter;
pub mod sort;
pub mod sql;
