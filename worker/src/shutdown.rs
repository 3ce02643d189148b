//! Shutdown signals.
//!
//! `stop` is the root token: cancelled on the first SIGTERM/SIGINT, it ends
//! polling and starts the drain (in-flight jobs finish, nothing new starts).
//! `abort` is cancelled on a second signal or when the drain timeout runs
//! out: running handlers are dropped and their messages released at once.

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    pub stop: CancellationToken,
    pub abort: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wires SIGTERM and SIGINT (Ctrl-C) to the tokens.
    pub fn listen_for_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let this = self.clone();
        tokio::spawn(async move {
            for round in 0..2 {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                if round == 0 {
                    tracing::info!("signal received: draining (send again to stop at once)");
                    this.stop.cancel();
                } else {
                    tracing::warn!("second signal: abandoning running jobs and releasing their messages");
                    this.abort.cancel();
                }
            }
        });
        Ok(())
    }
}
