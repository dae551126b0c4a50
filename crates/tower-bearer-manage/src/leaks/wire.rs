//! GitHub's secret-scanning partner format: the matches a report carries, and the feedback
//! the endpoint answers with.

use serde::{Deserialize, Serialize};

/// One match of a report: `{"token":"...","type":"...","url":"...","source":"..."}`. Other
/// fields are ignored, so fields GitHub adds later do not break the endpoint.
#[derive(Deserialize)]
pub(super) struct Match {
    pub(super) token: String,
    #[serde(rename = "type")]
    pub(super) token_type: String,
    #[serde(default)]
    pub(super) url: Option<String>,
    #[serde(default)]
    pub(super) source: Option<String>,
}

/// Whether a reported string is a token of ours. The only two values GitHub accepts.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum Label {
    TruePositive,
    FalsePositive,
}

/// The feedback on one match, in the raw-token form:
/// `{"token_raw":"...","token_type":"...","label":"true_positive"}`. The token is echoed as
/// GitHub sent it: GitHub has it already, and matches its feedback to its reports by it.
#[derive(Serialize)]
pub(super) struct Feedback<'a> {
    pub(super) token_raw: &'a str,
    pub(super) token_type: &'a str,
    pub(super) label: Label,
}
