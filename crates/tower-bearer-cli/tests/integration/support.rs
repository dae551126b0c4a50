//! Running the binary and keeping every output, to check at the end that no secret reached
//! stderr, each secret reached stdout once, and the database URL reached nothing.

use std::cell::RefCell;
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_tower-bearer");

/// The environment variable the binary reads the database URL from.
pub(crate) const DATABASE_ENV: &str = "TOWER_BEARER_DATABASE_URL";

/// One run's exit code and outputs.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts success; returns stdout.
    #[track_caller]
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self:?}");
        &self.stdout
    }

    /// Asserts exit code `code` and an error message containing `says`.
    #[track_caller]
    pub(crate) fn fails(&self, code: i32, says: &str) {
        assert_eq!(self.code, Some(code), "{self:?}");
        assert!(self.stderr.starts_with("error: ") && self.stderr.contains(says), "{self:?}");
    }

    /// The stdout lines parsed as JSON, one object each.
    #[track_caller]
    pub(crate) fn json_lines(&self) -> Vec<serde_json::Value> {
        self.ok().lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect()
    }
}

/// The binary pointed at one database, keeping every output.
pub(crate) struct Cli {
    url: String,
    /// What must never be printed: the URL, and the password in it.
    hidden: Vec<String>,
    runs: RefCell<Vec<Run>>,
}

impl Cli {
    pub(crate) fn new(url: &str, password: Option<&str>) -> Self {
        let hidden = std::iter::once(url).chain(password).map(str::to_owned).collect();
        Cli { url: url.to_owned(), hidden, runs: RefCell::new(Vec::new()) }
    }

    /// The database URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A command for `args`, the URL in the environment.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.args(args).env(DATABASE_ENV, &self.url);
        command
    }

    /// Runs `args` with the URL in the environment.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.record(self.command(args))
    }

    /// Runs `args` with the URL given by `--database` (and none in the environment).
    pub(crate) fn run_with_flag(&self, args: &[&str]) -> Run {
        let mut command = Command::new(BIN);
        command.arg("--database").arg(&self.url).args(args).env_remove(DATABASE_ENV);
        self.record(command)
    }

    fn record(&self, mut command: Command) -> Run {
        let output = command.stdin(Stdio::null()).output().expect("the binary runs");
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        };
        self.runs.borrow_mut().push(Run {
            code: run.code,
            stdout: run.stdout.clone(),
            stderr: run.stderr.clone(),
        });
        run
    }

    /// Keeps the outputs of a run made outside [`run`](Self::run).
    pub(crate) fn keep(&self, stdout: String, stderr: String) {
        self.runs.borrow_mut().push(Run { code: None, stdout, stderr });
    }

    /// Asserts that each of `secrets` was printed exactly once, on stdout, and that the
    /// database URL and its password were never printed.
    #[track_caller]
    pub(crate) fn assert_nothing_leaked(&self, secrets: &[String]) {
        let runs = self.runs.borrow();
        for run in runs.iter() {
            for hidden in &self.hidden {
                assert!(
                    !run.stdout.contains(hidden.as_str()) && !run.stderr.contains(hidden.as_str()),
                    "{run:?}"
                );
            }
            for secret in secrets {
                assert!(!run.stderr.contains(secret.as_str()), "a secret on stderr: {run:?}");
            }
        }
        for secret in secrets {
            let printed: usize = runs.iter().map(|run| run.stdout.matches(secret.as_str()).count()).sum();
            assert_eq!(printed, 1, "each secret is printed once");
        }
    }
}

/// Ends a child the test started (by its handle), if it is still running.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
