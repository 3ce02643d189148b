//! A TCP proxy that a test puts between the worker and one of its
//! dependencies (the SQS endpoint, Postgres) to inject network faults.
//!
//! The test owns the proxy and flips its [`Mode`]; every connection, open
//! or new, follows the mode at once. Nothing here sleeps to simulate a
//! fault's effect: a black hole really holds the bytes, a reset really sends
//! RST (SO_LINGER 0), so the worker sees what it would see on a real network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward bytes both ways.
    Pass,
    /// Forward bytes, each chunk after this delay (a slow link).
    Delay(Duration),
    /// Accept connections but forward nothing, in either direction, until the
    /// mode changes; then the held connections are reset, as a connection
    /// across a dead link would be.
    BlackHole,
    /// Reset every open connection and every new one at once (a restarted
    /// peer, or a firewall sending RST).
    Reset,
}

/// Counters a test reads to bound what the worker did during a fault.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub accepted: AtomicU64,
    pub resets: AtomicU64,
    pub bytes_forwarded: AtomicU64,
}

#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    stats: Arc<ProxyStats>,
    accept_loop: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (mode, watcher) = watch::channel(Mode::Pass);
        let stats = Arc::new(ProxyStats::default());
        let accept_loop = tokio::spawn(accept(listener, upstream, watcher, stats.clone()));
        Ok(Self { addr, mode, stats, accept_loop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set(&self, mode: Mode) {
        tracing::info!(?mode, proxy = %self.addr, "fault proxy mode");
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    pub fn accepted(&self) -> u64 {
        self.stats.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, mode: watch::Receiver<Mode>, stats: Arc<ProxyStats>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(client, upstream, mode.clone(), stats.clone()));
    }
}

/// Closes with RST instead of FIN: the peer's next read or write fails with
/// "connection reset", as after a crash or a middlebox dropping state.
fn reset(stream: TcpStream, stats: &ProxyStats) {
    stats.resets.fetch_add(1, Ordering::Relaxed);
    // Zero linger does not block on drop (only a positive linger does).
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Holds a connection without forwarding until the mode changes, then resets it.
async fn hold(client: TcpStream, upstream: Option<TcpStream>, mode: &mut watch::Receiver<Mode>, stats: &ProxyStats) {
    while *mode.borrow_and_update() == Mode::BlackHole {
        if mode.changed().await.is_err() {
            break;
        }
    }
    reset(client, stats);
    if let Some(upstream) = upstream {
        reset(upstream, stats);
    }
}

async fn serve(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>, stats: Arc<ProxyStats>) {
    let current = *mode.borrow_and_update();
    match current {
        Mode::Reset => return reset(client, &stats),
        Mode::BlackHole => return hold(client, None, &mut mode, &stats).await,
        Mode::Pass | Mode::Delay(_) => {}
    }
    let Ok(server) = TcpStream::connect(upstream).await else { return reset(client, &stats) };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    pump(client, server, mode, &stats).await;
}

/// Copies bytes both ways, re-reading the mode between chunks so a fault
/// applies to connections already open (the SDK and sqlx keep pools).
async fn pump(mut client: TcpStream, mut server: TcpStream, mut mode: watch::Receiver<Mode>, stats: &ProxyStats) {
    let (mut up_buf, mut down_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut client_open, mut server_open) = (true, true);
    while client_open || server_open {
        let current = *mode.borrow_and_update();
        let delay = match current {
            Mode::Pass => None,
            Mode::Delay(d) => Some(d),
            Mode::BlackHole => return hold(client, Some(server), &mut mode, stats).await,
            Mode::Reset => {
                reset(client, stats);
                return reset(server, stats);
            }
        };
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return },
            read = client.read(&mut up_buf), if client_open => match forward(read, &up_buf, &mut server, delay, stats).await {
                Step::Forwarded => {}
                Step::Closed => client_open = false,
                Step::Broken => return reset(client, stats),
            },
            read = server.read(&mut down_buf), if server_open => match forward(read, &down_buf, &mut client, delay, stats).await {
                Step::Forwarded => {}
                Step::Closed => server_open = false,
                Step::Broken => return reset(server, stats),
            },
        }
    }
}

/// What one read on one side of the pump came to.
enum Step {
    Forwarded,
    /// The reading side closed (or failed): half-close the other side.
    Closed,
    /// The other side cannot be written to: reset the reading side too.
    Broken,
}

/// Passes one read's bytes to the other side of the connection.
async fn forward(read: std::io::Result<usize>, buf: &[u8], to: &mut TcpStream, delay: Option<Duration>, stats: &ProxyStats) -> Step {
    match read {
        Ok(0) | Err(_) => {
            let _ = to.shutdown().await;
            Step::Closed
        }
        Ok(n) => {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return Step::Broken;
            }
            stats.bytes_forwarded.fetch_add(n as u64, Ordering::Relaxed);
            Step::Forwarded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server: what the proxy forwards comes back.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut buf = vec![0u8; msg.len()];
        s.read_exact(&mut buf).await?;
        Ok(buf)
    }

    #[tokio::test]
    async fn passes_then_black_holes_then_resets_open_and_new_connections() {
        let proxy = FaultProxy::start(echo().await).await.expect("proxy");
        let mut open = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut open, b"ping").await.expect("echo"), b"ping");

        proxy.set(Mode::BlackHole);
        let held = tokio::time::timeout(Duration::from_millis(300), round_trip(&mut open, b"lost")).await;
        assert!(held.is_err(), "a black hole must not answer: {held:?}");

        proxy.set(Mode::Reset);
        let mut buf = [0u8; 4];
        let after = open.read(&mut buf).await;
        assert!(matches!(after, Ok(0) | Err(_)), "the held connection ends once the black hole lifts: {after:?}");
        let mut fresh = TcpStream::connect(proxy.addr()).await.expect("the listener still accepts");
        assert!(round_trip(&mut fresh, b"nope").await.is_err(), "new connections are reset");

        proxy.set(Mode::Pass);
        let mut healed = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut healed, b"back").await.expect("echo after healing"), b"back");
        assert!(proxy.stats().resets.load(Ordering::Relaxed) >= 2);
        assert_eq!(proxy.accepted(), 3);
    }

    #[tokio::test]
    async fn delay_slows_each_chunk_but_delivers_it() {
        let proxy = FaultProxy::start(echo().await).await.expect("proxy");
        proxy.set(Mode::Delay(Duration::from_millis(150)));
        let mut s = TcpStream::connect(proxy.addr()).await.expect("connect");
        let started = tokio::time::Instant::now();
        assert_eq!(round_trip(&mut s, b"slow").await.expect("echo"), b"slow");
        assert!(started.elapsed() >= Duration::from_millis(300), "one delay each way");
    }
}
