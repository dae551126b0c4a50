//! An example run as a real process: the binary `cargo test` built next to this test binary
//! (`target/<profile>/examples/NAME`), run with `PORT=0` and without an inherited `RUST_LOG`,
//! killed when dropped (also when a test panics). No `cargo` is run from the tests.
//!
//! Every example prints `listening on http://127.0.0.1:<port>` as its first stdout line; the
//! harness waits for it and keeps the URL. Both pipes are drained on threads: stdout line by
//! line into a channel, stderr (the example's log) into a buffer.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long an example may take to print its first line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the lines after the first may take: the example is running by then.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start an example; [`Example::launch`] makes one, [`Launch::start`] runs it.
pub struct Launch {
    name: &'static str,
    /// Prefixes of inherited variables to remove; applied before `env`.
    remove_prefixed: Vec<String>,
    env: BTreeMap<OsString, OsString>,
}

impl Launch {
    /// Sets `key` for the example; wins over [`Launch::env_remove_prefixed`], whatever the
    /// order of the calls.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets each `(key, value)`, as [`Launch::env`].
    pub fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter().fold(self, |launch, &(key, value)| launch.env(key, value))
    }

    /// Does not pass on any inherited variable whose name starts with `prefix`. Variables set
    /// with [`Launch::env`] are kept.
    pub fn env_remove_prefixed(mut self, prefix: &str) -> Self {
        self.remove_prefixed.push(prefix.to_owned());
        self
    }

    /// Spawns the example and waits until it listens on 127.0.0.1.
    pub fn start(self) -> Example {
        let Launch { name, remove_prefixed, env } = self;
        let mut command = Command::new(binary(name));
        command
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
        command.envs(env);
        let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", binary(name).display()));

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

/// The example's binary: `cargo test` builds the examples into `<target>/<profile>/examples`,
/// and this test binary runs from `<target>/<profile>/deps`.
fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(std::path::Path::parent).expect("<target>/<profile>/deps");
    let path = profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} is missing: `cargo test` builds the examples", path.display());
    path
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
        Launch { name, remove_prefixed: Vec::new(), env: BTreeMap::new() }
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
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
