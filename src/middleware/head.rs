//! Lending a request's head as `Parts` to a check that reads it (a predicate, a DPoP
//! verifier), without moving the request or its body.

use http::Request;
use http::request::Parts;

/// Runs `f` on the head of `req` as `Parts`, lent for the call: the head is swapped into a
/// `Parts` and back, field by field, so the request (and its body) never moves.
pub(crate) fn with_head<B, T>(req: &mut Request<B>, f: impl FnOnce(&Parts) -> T) -> T {
    let (mut head, ()) = Request::new(()).into_parts();
    swap_head(req, &mut head);
    let out = f(&head);
    swap_head(req, &mut head);
    out
}

fn swap_head<B>(req: &mut Request<B>, head: &mut Parts) {
    std::mem::swap(req.method_mut(), &mut head.method);
    std::mem::swap(req.uri_mut(), &mut head.uri);
    std::mem::swap(req.version_mut(), &mut head.version);
    std::mem::swap(req.headers_mut(), &mut head.headers);
    std::mem::swap(req.extensions_mut(), &mut head.extensions);
}
