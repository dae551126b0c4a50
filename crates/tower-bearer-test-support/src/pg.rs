//! A throwaway PostgreSQL cluster: `initdb` in a temp dir, the server on a free 127.0.0.1
//! port, stopped and removed when dropped (also when a test panics).
//!
//! The server binaries are looked for in `$PG_BIN`, then `/usr/lib/postgresql/<highest>/bin`
//! (Debian), then `PATH`. `initdb` refuses to run as root, so as root everything runs as the
//! `postgres` user (`runuser`), with the temp dir handed to it.
//!
//! Without the binaries, [`PgCluster::start`] fails loudly when `CI` is set and otherwise
//! returns `None` after saying why on stderr, so a developer without PostgreSQL can still run
//! the rest of the suite.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub struct PgCluster {
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
    /// Processes of this cluster stopped with SIGSTOP by `freeze`.
    frozen: Vec<u32>,
    /// Serves TLS only (a self-signed certificate): `start_tls`.
    tls: bool,
}

fn find_bin() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        return has_tools(&dir).then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|dir| has_tools(dir)))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Sends `signal` to one process by pid; whether it was delivered.
fn signal(signal: &str, pid: u32) -> bool {
    Command::new("kill").arg(signal).arg(pid.to_string()).status().is_ok_and(|s| s.success())
}

/// The parent pid of a process, from `/proc/<pid>/stat` (the field after the parenthesized
/// command name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl PgCluster {
    /// A running cluster, or `None` (after an explanation on stderr) when PostgreSQL is not
    /// installed and `CI` is not set.
    ///
    /// # Panics
    ///
    /// When the binaries are missing and `CI` is set, or the cluster cannot be started.
    pub fn start() -> Option<Self> {
        Self::start_with(false)
    }

    /// As [`start`](Self::start), a server that accepts TLS connections only (a self-signed
    /// certificate made by `openssl`; `pg_hba.conf` has `hostssl` lines only), so a client
    /// that does not speak TLS is refused.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start), or when `openssl` cannot make the certificate.
    pub fn start_tls() -> Option<Self> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Option<Self> {
        let Some(bin) = find_bin() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL server binaries (initdb, pg_ctl) not found in $PG_BIN, /usr/lib/postgresql/*/bin \
                 or PATH, and CI is set: the Postgres tests must run in CI (install the `postgresql` package; \
                 .ci/run does)"
            );
            eprintln!(
                "SKIPPED: PostgreSQL is not installed (no initdb/pg_ctl in $PG_BIN, /usr/lib/postgresql/*/bin \
                 or PATH); install the `postgresql` package to run the Postgres tests"
            );
            return None;
        };
        let dir =
            tempfile::Builder::new().prefix("tower-bearer-pg-").tempdir_in(std::env::temp_dir()).unwrap();
        let as_postgres = is_root();
        let mut cluster =
            PgCluster { dir: Some(dir), bin, port: 0, as_postgres, running: false, frozen: Vec::new(), tls };
        if as_postgres {
            let chown = Command::new("chown").args(["-R", "postgres:"]).arg(cluster.path()).output().unwrap();
            assert!(chown.status.success(), "chown: {}", String::from_utf8_lossy(&chown.stderr));
        }
        let data = cluster.data();
        let init = cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        assert!(init.status.success(), "initdb failed:\n{}", String::from_utf8_lossy(&init.stderr));
        if tls {
            cluster.serve_tls_only();
        }
        // A port picked free may be taken by the time the server binds it: try a few.
        for attempt in 0.. {
            cluster.port = free_port();
            if cluster.try_start() {
                break;
            }
            assert!(attempt < 4, "the PostgreSQL server would not start:\n{}", cluster.log());
        }
        Some(cluster)
    }

    /// A self-signed certificate for 127.0.0.1 in the data directory, and `hostssl` lines in
    /// place of `host` ones.
    fn serve_tls_only(&self) {
        let data = self.data();
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(data.join("server.key"))
            .arg("-out")
            .arg(data.join("server.crt"))
            .output()
            .expect("openssl runs");
        assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
        let hba = "hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\nlocal all all trust\n";
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        // The server refuses a key others can read; as root, the files are handed to it.
        let key = data.join("server.key");
        let chmod = Command::new("chmod").arg("600").arg(&key).output().unwrap();
        assert!(chmod.status.success());
        if self.as_postgres {
            let files = [key, data.join("server.crt"), data.join("pg_hba.conf")];
            let chown = Command::new("chown").arg("postgres:").args(&files).output().unwrap();
            assert!(chown.status.success(), "chown: {}", String::from_utf8_lossy(&chown.stderr));
        }
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("server.log")).unwrap_or_default()
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Output {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(args).current_dir(self.path()).output().unwrap()
    }

    fn try_start(&mut self) -> bool {
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.path().display()
        );
        if self.tls {
            options.push_str(" -c ssl=on");
        }
        let (data, log) = (self.data(), self.path().join("server.log"));
        let out = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        );
        self.running = out.status.success();
        self.running
    }

    /// `postgres://` URL of the `postgres` database, as the `postgres` superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: clients are disconnected at once).
    pub fn stop(&mut self) {
        let data = self.data();
        let out = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
        self.running = false;
    }

    /// Starts the stopped server again, on the same port.
    pub fn restart(&mut self) {
        assert!(self.try_start(), "the PostgreSQL server would not restart:\n{}", self.log());
    }

    /// Freezes the server (SIGSTOP to its postmaster, then to each of its backends, by pid):
    /// connections stay open but nothing answers, as behind a dead network path.
    pub fn freeze(&mut self) {
        let pidfile = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        let postmaster: u32 = pidfile.lines().next().unwrap().trim().parse().unwrap();
        // The postmaster first, so that it forks no backend we would miss.
        self.frozen.push(postmaster);
        signal("-STOP", postmaster);
        let children =
            Command::new("ps").args(["-o", "pid=", "--ppid", &postmaster.to_string()]).output().unwrap();
        for pid in String::from_utf8_lossy(&children.stdout).split_whitespace().filter_map(|p| p.parse().ok())
        {
            // Still the postmaster's child (not exited, its pid not reused)?
            if parent_of(pid) == Some(postmaster) && signal("-STOP", pid) {
                self.frozen.push(pid);
            }
        }
    }

    /// Undoes [`freeze`](Self::freeze).
    pub fn thaw(&mut self) {
        for pid in std::mem::take(&mut self.frozen) {
            signal("-CONT", pid);
        }
    }

    /// How long to wait for anything a test waits for on this cluster.
    pub const PATIENCE: Duration = Duration::from_secs(30);
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if !self.frozen.is_empty() {
            self.thaw();
        }
        if self.running {
            let data = self.data();
            let stopped = self.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-m".as_ref(),
                    "immediate".as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "10".as_ref(),
                    "stop".as_ref(),
                ],
            );
            // Should pg_ctl fail, an immediate shutdown by the postmaster's pid.
            if !stopped.status.success()
                && let Ok(pidfile) = std::fs::read_to_string(data.join("postmaster.pid"))
                && let Some(pid) = pidfile.lines().next().and_then(|l| l.trim().parse().ok())
            {
                signal("-QUIT", pid);
            }
        }
        // The temp dir (data, socket, log) goes with it.
        drop(self.dir.take());
    }
}
