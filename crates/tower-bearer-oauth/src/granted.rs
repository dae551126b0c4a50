//! What a client is granted at the token endpoint: the scopes it asked for within its
//! registration, and the resource (RFC 8707) it asked for.

use tower_bearer::Scopes;
use tower_bearer::grant::MintRules;

use crate::client::ClientRecord;
use crate::error::{OAuthError, is_param_char};
use crate::shared::Config;

/// `resource` if the client may ask for it (RFC 8707 §2: an absolute URI without a fragment,
/// one of the configured resources if any).
pub(crate) fn checked_resource<'a>(config: &Config, resource: &'a str) -> Result<&'a str, OAuthError> {
    let invalid = || OAuthError::bad_request("invalid_target", "the requested resource is not accepted");
    let absolute = resource.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            && !rest.is_empty()
    });
    if !absolute || resource.contains('#') || resource.chars().any(|c| !is_param_char(c)) {
        return Err(invalid());
    }
    if !config.resources.is_empty() && !config.resources.iter().any(|r| **r == *resource) {
        return Err(invalid());
    }
    Ok(resource)
}

/// The scopes a client gets: those it asked for, each covered by its registration as one token
/// covers another's (`MintRules::covers`: a registration with `*` does not hand out the admin
/// scope), or all it may ask for.
pub(crate) fn granted_scopes(
    client: &ClientRecord,
    requested: Option<&str>,
    rules: &MintRules,
) -> Result<Scopes, OAuthError> {
    let Some(requested) = requested.filter(|s| !s.is_empty()) else {
        return Ok(client.allowed_scopes.clone());
    };
    let invalid = |description| OAuthError::bad_request("invalid_scope", description);
    if requested.split(' ').any(|s| !s.is_empty() && !Scopes::is_valid(s)) || requested.contains("  ") {
        return Err(invalid("the scope parameter is malformed"));
    }
    let scopes = Scopes::parse(requested);
    if scopes.is_empty() {
        return Err(invalid("the scope parameter is malformed"));
    }
    if !scopes.iter().all(|s| rules.covers(&client.allowed_scopes, s)) {
        return Err(invalid("the requested scope exceeds what the client may ask for"));
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A registration with `*` hands out every scope but the admin scope (issue 21: the
    /// wildcard made a client's tokens organization admins).
    #[test]
    fn a_wildcard_registration_does_not_hand_out_the_admin_scope() {
        let client =
            ClientRecord::new("c".into(), "svc".into(), Scopes::parse("*"), Duration::from_secs(60), vec![]);
        let rules = MintRules::new();
        assert_eq!(
            granted_scopes(&client, Some("reports:read"), &rules).unwrap(),
            Scopes::parse("reports:read")
        );
        assert_eq!(granted_scopes(&client, Some("*"), &rules).unwrap(), Scopes::parse("*"), "held by name");
        for asked in ["tokens:admin", "reports:read tokens:admin"] {
            assert!(granted_scopes(&client, Some(asked), &rules).is_err(), "{asked}");
        }
        let admin = ClientRecord { allowed_scopes: Scopes::parse("* tokens:admin"), ..client };
        assert!(granted_scopes(&admin, Some("tokens:admin"), &rules).is_ok());
    }
}
