//! The `tower-bearer` binary, run as an operator runs it: one lifecycle on a SQLite file and on
//! a throwaway PostgreSQL cluster (checked through a store the test opens on the same
//! database), and the errors that need no database.

mod errors;
mod lifecycle;
mod metered;
mod notices;
mod support;
mod usage;
