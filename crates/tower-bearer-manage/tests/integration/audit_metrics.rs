//! The audit writer's backlog and drops through the `metrics` facade, read with a local
//! `DebuggingRecorder` on a current-thread runtime (no global recorder), on tokio's paused
//! clock.
#![cfg(feature = "metrics")]

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower_bearer::MemoryTokenStore;
use tower_bearer::manage::audit::{AuditEvent, AuditKind};
use tower_bearer_manage::AuditWriter;

use crate::audit::counting;

/// The audit gauge, and the counter's increments since the last snapshot: (backlog, dropped).
fn audit_metrics(snapshotter: &Snapshotter) -> (Option<f64>, Option<u64>) {
    let (mut backlog, mut dropped) = (None, None);
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        match (key.key().name(), value) {
            ("tower_bearer_audit_backlog", DebugValue::Gauge(v)) => backlog = Some(v.into_inner()),
            ("tower_bearer_audit_dropped_total", DebugValue::Counter(n)) => dropped = Some(n),
            _ => {}
        }
    }
    (backlog, dropped)
}

#[test]
fn the_backlog_follows_a_failing_log_and_drops_are_counted_once() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        runtime.block_on(async {
            let log = counting(MemoryTokenStore::builder().audit_capacity(10_000).build(), usize::MAX);
            let audit = AuditWriter::builder()
                .max_bytes(64 << 10)
                .batch_size(10)
                .flush_interval(Duration::from_millis(100))
                .spawn(log.clone());
            let at = SystemTime::now();
            for i in 0..5_000u64 {
                audit.record(AuditEvent::new(AuditKind::Leaked, at).with_reason(format!("event {i}")));
            }
            // The log is down: the writer retries, and records its backlog and drops meanwhile.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let stats = audit.stats();
            assert!(stats.dropped > 0, "{stats:?}");
            assert_eq!(
                audit_metrics(&snapshotter),
                (Some(stats.pending as f64), Some(stats.dropped)),
                "{stats:?}"
            );
            // Back: the backlog is written, and no drop is counted again (a snapshot reads
            // the counter's increments since the one before).
            log.failures.store(0, Ordering::SeqCst);
            assert!(audit.flush().await);
            assert_eq!(audit_metrics(&snapshotter), (Some(0.0), Some(0)));
        });
    });
}
