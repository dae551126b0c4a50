//! The leaked-token endpoint: reports of tokens found in public by a secret scanner (GitHub's
//! partner program), verified, answered with feedback, the live tokens revoked.

mod endpoint;
mod keys;
mod report;
mod response;
mod wire;

pub use endpoint::LeakedTokenEndpoint;
pub use keys::{ScannerKeyError, ScannerKeys};
pub use report::LeakReport;
