//! HTTP clients pinned to the addresses the SSRF guard checked.
//!
//! `reqwest`'s `resolve_to_addrs` makes a client connect to the given
//! addresses for a host name instead of asking DNS again, so the address
//! checked is the address connected to. Building a client costs a TLS
//! configuration, so clients are cached per (host, checked addresses): a
//! repeat request to the same destination reuses its client and its pooled
//! connections, and a DNS change simply yields a new key (after a new check).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Client;
use reqwest::redirect::Policy;

use super::Destination;

/// Cached clients beyond this are dropped all at once (a crude bound; the
/// working set of destinations per pod is normally far smaller).
const MAX_CACHED_CLIENTS: usize = 256;

/// Connect and total timeouts of outbound calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    pub connect: Duration,
    pub total: Duration,
}

/// Builds and caches pinned clients. Every client has redirects off (a 3xx
/// could point anywhere, past the guard), no proxy (a proxy would do its
/// own, unchecked resolution) and the given timeouts.
#[derive(Debug)]
pub struct PinnedClients {
    timeouts: HttpTimeouts,
    user_agent: String,
    cache: Mutex<HashMap<(String, Vec<SocketAddr>), Client>>,
}

impl PinnedClients {
    pub fn new(timeouts: HttpTimeouts, user_agent: impl Into<String>) -> Self {
        Self { timeouts, user_agent: user_agent.into(), cache: Mutex::new(HashMap::new()) }
    }

    pub fn timeouts(&self) -> HttpTimeouts {
        self.timeouts
    }

    /// A client that can only reach `dest.addrs` for `dest.host`.
    pub fn client_for(&self, dest: &Destination) -> Result<Client, reqwest::Error> {
        let key = (dest.host.clone(), dest.addrs.clone());
        if let Some(client) = self.lock().get(&key) {
            return Ok(client.clone());
        }
        let mut builder = Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .connect_timeout(self.timeouts.connect)
            .timeout(self.timeouts.total)
            .user_agent(self.user_agent.clone());
        if dest.is_domain {
            builder = builder.resolve_to_addrs(&dest.host, &dest.addrs);
        }
        let client = builder.build()?;
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED_CLIENTS {
            cache.clear();
        }
        cache.insert(key, client.clone());
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Vec<SocketAddr>), Client>> {
        // The map holds only clients; a panic elsewhere cannot leave it inconsistent.
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
