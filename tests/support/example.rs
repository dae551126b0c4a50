//! An example run as a real process: `cargo run --quiet --all-features --example NAME -- ARGS`
//! with `PORT=0` and without an inherited `RUST_LOG`, killed when dropped (also when a test
//! panics).
//!
//! Every example prints `listening on http://127.0.0.1:<port>` as its first stdout line; the
//! harness waits for it (the first run compiles the example) and keeps the URL. Both pipes are
//! drained on threads: stdout line by line into a channel, stderr (the example's log) into a
//! buffer.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long an example may take to print its first line. The first run compiles it.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// How long the lines after the first may take: the example is running by then.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start an example; [`Example::launch`] makes one, [`Launch::start`] runs it.
pub struct Launch {
    name: &'static str,
    args: Vec<OsString>,
    /// Prefixes of inherited variables to remove; applied before `env`.
    remove_prefixed: Vec<String>,
    /// `Some` to set, `None` to remove.
    env: BTreeMap<OsString, Option<OsString>>,
}

impl Launch {
    /// Adds arguments for the example (after `--`).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(OsString::from));
        self
    }

    /// Sets `key` for the example. For one key, the last of `env` and `env_remove` wins;
    /// either wins over [`Launch::env_remove_prefixed`], whatever the order of the calls.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.insert(key.into(), Some(value.into()));
        self
    }

    /// Sets each `(key, value)`, as [`Launch::env`].
    pub fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter().fold(self, |launch, &(key, value)| launch.env(key, value))
    }

    /// Does not pass on the inherited `key` (see [`Launch::env`] for the order).
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env.insert(key.into(), None);
        self
    }

    /// Does not pass on any inherited variable whose name starts with `prefix`. Variables set
    /// with [`Launch::env`] are kept.
    pub fn env_remove_prefixed(mut self, prefix: &str) -> Self {
        self.remove_prefixed.push(prefix.to_owned());
        self
    }

    /// Spawns `cargo run` and waits until the example listens on 127.0.0.1.
    pub fn start(self) -> Example {
        let Launch { name, args, remove_prefixed, env } = self;
        let mut command = Command::new(env!("CARGO"));
        command
            .args(["run", "--quiet", "--all-features", "--example", name, "--"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PORT", "0")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|key| remove_prefixed.iter().any(|p| key.starts_with(p.as_str()))) {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let mut child = command.spawn().expect("spawn cargo run");

        // Drain both pipes on threads so the example never blocks writing to them.
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let mut example = Example { name, child, stdout, stderr, base_url: String::new() };
        let first = example.next_line(STARTUP_TIMEOUT);
        let Some(url) = first.strip_prefix("listening on ") else {
            panic!("{name}: first line is {first:?}, not `listening on ...`");
        };
        assert!(url.starts_with("http://127.0.0.1:"), "{name} must bind 127.0.0.1 only: {url}");
        example.base_url = url.to_owned();
        example
    }
}

/// A running example process; killed when dropped, also when a test panics.
pub struct Example {
    name: &'static str,
    child: Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    base_url: String,
}

impl Example {
    /// Starts the example `name` with no arguments and the default environment, and waits
    /// until it listens.
    pub fn start(name: &'static str) -> Self {
        Self::launch(name).start()
    }

    /// The example `name`, to add arguments or environment variables to before starting it.
    pub fn launch(name: &'static str) -> Launch {
        Launch { name, args: Vec::new(), remove_prefixed: Vec::new(), env: BTreeMap::new() }
    }

    /// The next stdout line; panics with the exit status and stderr if none comes in `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> String {
        match self.stdout.recv_timeout(timeout) {
            Ok(line) => line,
            Err(e) => {
                let status = self.child.try_wait().ok().flatten();
                let reason = match e {
                    RecvTimeoutError::Timeout => "timed out waiting for output",
                    RecvTimeoutError::Disconnected => "stdout closed",
                };
                panic!("{}: {reason} (exit status {status:?}); stderr:\n{}", self.name, self.log());
            }
        }
    }

    /// The rest of the first line starting with `prefix`, skipping other lines.
    pub fn line_after(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let line = self.next_line(deadline.saturating_duration_since(Instant::now()));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }

    /// Every line up to the blank one that ends the banner (not included).
    pub fn banner(&mut self) -> Vec<String> {
        let deadline = Instant::now() + LINE_TIMEOUT;
        let mut lines = Vec::new();
        loop {
            let line = self.next_line(deadline.saturating_duration_since(Instant::now()));
            if line.is_empty() {
                return lines;
            }
            lines.push(line);
        }
    }

    /// Every stdout line not consumed yet.
    pub fn printed_so_far(&mut self) -> Vec<String> {
        self.stdout.try_iter().collect()
    }

    /// Everything the example wrote to stderr (its log) so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `path` on the example's `http://127.0.0.1:<port>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Kills the example and waits for it to exit (what dropping it does).
    pub fn stop(self) {
        drop(self);
    }

    /// Asserts that none of `secrets` was printed after startup (stdout lines not read yet) or
    /// logged at all (stderr).
    #[track_caller]
    pub fn assert_never_printed(&mut self, secrets: &[&str]) {
        let printed = self.printed_so_far().join("\n");
        for secret in secrets {
            assert!(!printed.contains(secret), "{}: a secret reached stdout: {printed}", self.name);
        }
        self.assert_never_logged(secrets);
    }

    /// Asserts that none of `secrets` reached the log (stderr), and that the log shows token
    /// ids (so the check is not vacuous). For demo tokens, which are printed on stdout at
    /// startup by design.
    #[track_caller]
    pub fn assert_never_logged(&self, secrets: &[&str]) {
        let log = self.log();
        assert!(log.contains("token_id"), "{}: the log should show token ids: {log}", self.name);
        for secret in secrets {
            assert!(!log.contains(secret), "{}: a secret reached the log: {log}", self.name);
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        // `cargo run` execs the example on Unix, so this is the example's own process.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer from an example, body as text.
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    /// The `WWW-Authenticate` value, if any.
    pub fn challenge(&self) -> Option<&str> {
        self.headers.get("www-authenticate").map(|v| v.to_str().unwrap())
    }
}

/// One request over a fresh HTTP/1.1 client; `token` goes into `Authorization: Bearer`,
/// `body` is `(content type, body)`.
pub async fn send(method: http::Method, url: &str, token: Option<&str>, body: Option<(&str, &str)>) -> Reply {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some((content_type, body)) => {
            request = request.header("content-type", content_type);
            Full::from(body.to_owned())
        }
        None => Full::default(),
    };
    let response = client.request(request.body(body).unwrap()).await.expect("request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply { status: parts.status, headers: parts.headers, body: String::from_utf8(body.to_vec()).unwrap() }
}
