//! One `tracing` subscriber for the whole test binary, writing into a buffer that tests read.
//!
//! Global, installed once, rather than per test (`set_default`): `tracing` caches each
//! callsite's interest, and a callsite first reached on another test's thread while a
//! thread-local subscriber is being installed can keep a stale "never" interest, silently
//! dropping events; and two tests installing subscribers of their own in one binary see each
//! other's events or lose their own. Tests tell their lines apart by a request path no other
//! test uses.

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything captured so far, from every test of the binary.
    pub(crate) fn output(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The captured lines of requests to `path` (and only those).
    pub(crate) fn lines_for_path(&self, path: &str) -> Vec<String> {
        let field = format!("path=\"{path}\"");
        self.output().lines().filter(|l| l.contains(&field)).map(str::to_owned).collect()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The binary's capturing subscriber, installed at TRACE on first use.
pub(crate) fn install() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_target(true)
                .with_file(true)
                .with_line_number(true)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
            captured
        })
        .clone()
}
