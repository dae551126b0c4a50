-- The key a token is bound to (DPoP, RFC 9449): the RFC 7638 SHA-256 thumbprint of its public
-- key, base64url (`cnf.jkt`). NULL for a plain bearer token, which every existing token is.
ALTER TABLE tower_bearer_tokens ADD COLUMN confirmation TEXT;
