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
        let mut signals = Signals::install()?;
        let this = self.clone();
        tokio::spawn(async move {
            for round in 0..2 {
                signals.recv().await;
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

/// SIGTERM or SIGINT (Ctrl-C), whichever comes first: the one signal
/// helper the worker, the relay and the operator commands share, so they
/// all stop on the same signals.
#[derive(Debug)]
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers now: a signal that arrives before the first
    /// `recv` is kept, not lost.
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    /// Waits for the next SIGTERM or SIGINT.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
