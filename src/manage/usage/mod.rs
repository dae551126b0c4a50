//! Usage analytics: how many requests each token made, and how each was answered, over time.
//! The layer's outcomes ([`AuthEvent`](crate::middleware::AuthEvent)) become
//! [`UsageOutcome`]s, counted per token, outcome and time bucket ([`Granularity`]) by
//! `tower-bearer-manage`'s counter, and added in batches to a [`UsageLog`] (the
//! [`MemoryTokenStore`](crate::MemoryTokenStore), or the SQL store's counter table, where
//! every instance adds its own),
//! and read back as a [`UsageSeries`] for charts and tables.

mod count;
mod log;
pub(crate) mod memory;
mod outcome;
mod series;

pub use count::{Granularity, UsageCount};
pub use log::{UsageLog, UsageQuery};
pub use outcome::UsageOutcome;
pub use series::{OutcomeCounts, UsageSeries};
