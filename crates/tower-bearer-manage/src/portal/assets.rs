//! The page's only style sheet and script, inline, and the Content-Security-Policy that allows
//! exactly them (by their SHA-256 hashes) and nothing else.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use sha2::{Digest, Sha256};

/// Plain, legible, with a visible focus ring on everything focusable.
pub(crate) const STYLE: &str = "\
:root{color-scheme:light;--accent:#0b57d0;--danger:#b3261e;--muted:#50565d;--line:#c9ced6;--ok:#146c2e}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif;color:#1f2328;background:#fff}
header,main{max-width:68rem;margin:0 auto;padding:0 1.5rem}
header{display:flex;justify-content:space-between;align-items:baseline;padding-top:1rem;color:var(--muted)}
h1{font-size:1.7rem;margin:.5rem 0 1rem}h2{font-size:1.25rem;margin:2rem 0 .75rem}
a{color:var(--accent)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;color:var(--muted);padding-bottom:.5rem}
th,td{text-align:left;vertical-align:top;padding:.55rem .45rem;border-bottom:1px solid var(--line)}
th{font-weight:600;background:#f3f5f8}
td form{margin:0}
td time,td .expired,code.hint{white-space:nowrap}
code{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-size:.9em}
.scope{display:inline-block;margin:0 .25rem .25rem 0;padding:0 .4rem;border:1px solid var(--line);border-radius:.25rem;background:#f6f8fa}
.muted,.hint{color:var(--muted)}.hint{font-size:.9rem;margin:.2rem 0}
.expired{color:var(--danger);font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.25rem;margin:1rem 0}dt{font-weight:600}dd{margin:0}
.field{margin:0 0 1.1rem}
label,legend{font-weight:600;display:block}
fieldset{border:1px solid var(--line);border-radius:.35rem;padding:.5rem 1rem .75rem;margin:0 0 1.1rem;max-width:40rem}
fieldset label{font-weight:400;display:flex;gap:.5rem;align-items:baseline;margin:.3rem 0}
input[type=text],input[type=date]{font:inherit;padding:.4rem .55rem;border:1px solid #6e7781;border-radius:.3rem;width:100%;max-width:28rem}
input[type=checkbox]{width:1.1rem;height:1.1rem}
input[aria-invalid=true],fieldset[aria-invalid=true]{border:2px solid var(--danger)}
.error{color:var(--danger);font-weight:600;margin:.2rem 0}
button{font:inherit;padding:.45rem 1rem;border-radius:.35rem;border:2px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
button.secondary{background:#fff;color:var(--accent);padding:.2rem .7rem}
button.danger{background:var(--danger);border-color:var(--danger)}
.actions{display:flex;gap:1rem;align-items:center;margin-top:1.25rem}
.notice{border-left:6px solid var(--ok);background:#eef7f0;padding:.75rem 1rem;margin:0 0 1.25rem}
.summary{border:2px solid var(--danger);padding:.75rem 1rem;margin:0 0 1.25rem}
.summary h2{margin:0 0 .5rem;font-size:1.1rem}
.warning{border-left:6px solid #b26a00;background:#fff6e5;padding:.75rem 1rem;margin:0 0 1.25rem}
.secret{display:flex;gap:.75rem;align-items:center;flex-wrap:wrap}
.secret input{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;max-width:44rem}
.action{margin:0 0 .35rem}
figure.usage{margin:1rem 0;max-width:44rem}svg.chart{width:100%;height:auto;display:block}
table.usage{max-width:36rem;font-size:.85rem}table.usage th,table.usage td{padding:.15rem .45rem}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
";

/// The optional copy button: shown only where the clipboard API is there, so that without
/// JavaScript the page is whole (the secret is in a read-only field to select and copy).
pub(crate) const COPY_SCRIPT: &str = "\
document.querySelectorAll('button[data-copy]').forEach(function (button) {
  var field = document.getElementById(button.getAttribute('data-copy'));
  var status = document.getElementById(button.getAttribute('data-status'));
  if (!field || !status || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener('click', function () {
    navigator.clipboard.writeText(field.value).then(function () {
      status.textContent = 'Copied to the clipboard.';
    }, function () {
      field.select();
      status.textContent = 'Could not copy: the token is selected, press Ctrl+C to copy it.';
    });
  });
});
";

fn sha256_source(text: &str) -> String {
    format!("'sha256-{}'", STANDARD.encode(Sha256::digest(text.as_bytes())))
}

/// Nothing but the inline style and script above; no framing; forms post only to this site.
pub(crate) static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let policy = format!(
        "default-src 'none'; style-src {}; script-src {}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        sha256_source(STYLE),
        sha256_source(COPY_SCRIPT),
    );
    HeaderValue::try_from(policy).expect("base64 and ASCII make a valid header value")
});
