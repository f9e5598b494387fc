//! `killchain-map`: find ATT&CK references and entity facts in alert records and build findings (pure, no I/O).
pub mod extract;
pub mod facts;
pub mod finding;
pub mod path;
