//! Instances that die without a goodbye: a test runs its own test binary again as a child
//! process, with one ignored test selected and its orders in the environment; the child does
//! its part, reports on stdout, and waits to be killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The prefix of the child's report line.
pub const REPORT: &str = "child: ";

/// Runs `test` (the full path of an ignored test of the current test binary) as a child
/// process with `env` set, and waits for the line where it prints [`REPORT`]. Returns the
/// child and the rest of that line.
pub fn start(test: &str, env: &[(&str, &str)]) -> (Child, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--include-ignored", "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let report = stdout
        .lines()
        .map_while(Result::ok)
        // The test harness prints the test's name first, on the same line.
        .find_map(|line| line.split_once(REPORT).map(|(_, report)| report.to_owned()))
        .expect("the child reports before it waits");
    (child, report)
}

/// The child's part is done: print `report` for the parent, and wait to be killed.
pub async fn report_and_wait(report: &str) -> ! {
    println!("{REPORT}{report}");
    std::future::pending::<()>().await;
    unreachable!("pending never completes")
}

/// SIGKILL: nothing of the child runs after it (no destructor, no flush, no goodbye to the
/// database).
pub fn kill_9(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}
