//! Lifecycle notices: tokens about to expire and tokens reported leaked, as events the
//! application sends on (an email, a webhook), and as lists for the management API.

mod expiry;
mod notice;

pub(crate) use expiry::expiring;
pub use expiry::{ExpiryNotices, ExpiryNoticesBuilder};
pub use notice::{Notice, NoticeKind};
