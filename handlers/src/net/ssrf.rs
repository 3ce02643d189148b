//! The SSRF guard: which addresses a job may make the worker connect to.
//!
//! A webhook URL comes from a job payload, i.e. from whoever can enqueue a
//! job. Without a guard it could point the worker at the cloud metadata
//! service (169.254.169.254), the cluster's internal services or the pod's
//! own admin port. [`SsrfGuard::check`] parses the URL, resolves its host
//! once, and refuses the request unless every resolved address is public
//! ([`classify`] returns `None`) or allow-listed. The caller then connects
//! to exactly the checked addresses ([`super::PinnedClients`]), so a DNS
//! answer that changes between the check and the connect (DNS rebinding)
//! cannot switch the destination.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

use jobfleet_contract::JobError;

/// Why an address is not a public internet destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockReason {
    /// 0.0.0.0, `::`
    Unspecified,
    /// 0.0.0.0/8 ("this network")
    ThisNetwork,
    /// 127.0.0.0/8, `::1`
    Loopback,
    /// 10/8, 172.16/12, 192.168/16
    Private,
    /// 100.64.0.0/10 (carrier-grade NAT)
    SharedAddressSpace,
    /// 169.254/16 (incl. the metadata service 169.254.169.254), fe80::/10
    LinkLocal,
    /// fc00::/7
    UniqueLocal,
    /// fec0::/10 (deprecated site-local)
    SiteLocal,
    /// 224/4, ff00::/8
    Multicast,
    /// 255.255.255.255
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
    Documentation,
    /// 198.18/15, 2001:2::/48
    Benchmarking,
    /// 192.0.0/24 (IETF protocol assignments)
    ProtocolAssignments,
    /// 240/4, 192.88.99/24, IPv4-compatible `::a.b.c.d`, ORCHID, and any
    /// IPv6 address outside global unicast 2000::/3
    Reserved,
    /// 100::/64
    DiscardOnly,
    /// 2001::/32: the real destination is hidden behind a relay
    Teredo,
    /// 64:ff9b:1::/48: local-use NAT64 may translate to anything
    LocalNat64,
}

impl BlockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::ThisNetwork => "this_network",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::SharedAddressSpace => "shared_address_space",
            Self::LinkLocal => "link_local",
            Self::UniqueLocal => "unique_local",
            Self::SiteLocal => "site_local",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::ProtocolAssignments => "protocol_assignments",
            Self::Reserved => "reserved",
            Self::DiscardOnly => "discard_only",
            Self::Teredo => "teredo",
            Self::LocalNat64 => "local_nat64",
        }
    }
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `None` when `ip` is a public unicast address, otherwise why not.
/// IPv6 forms that embed an IPv4 address (`::ffff:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`) are judged by that address.
pub fn classify(ip: IpAddr) -> Option<BlockReason> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<BlockReason> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        _ if ip.is_unspecified() => BlockReason::Unspecified,
        _ if ip.is_broadcast() => BlockReason::Broadcast,
        (0, _, _) => BlockReason::ThisNetwork,
        (10, _, _) => BlockReason::Private,
        (100, 64..=127, _) => BlockReason::SharedAddressSpace,
        (127, _, _) => BlockReason::Loopback,
        (169, 254, _) => BlockReason::LinkLocal,
        (172, 16..=31, _) => BlockReason::Private,
        (192, 0, 0) => BlockReason::ProtocolAssignments,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => BlockReason::Documentation,
        (192, 88, 99) => BlockReason::Reserved,
        (192, 168, _) => BlockReason::Private,
        (198, 18..=19, _) => BlockReason::Benchmarking,
        (224..=239, _, _) => BlockReason::Multicast,
        (240..=255, _, _) => BlockReason::Reserved,
        _ => return None,
    };
    Some(reason)
}

fn classify_v6(ip: Ipv6Addr) -> Option<BlockReason> {
    let s = ip.segments();
    let embedded_tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if ip.is_unspecified() {
        return Some(BlockReason::Unspecified);
    }
    if ip.is_loopback() {
        return Some(BlockReason::Loopback);
    }
    // ::ffff:a.b.c.d (IPv4-mapped): what the socket really talks to.
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return classify_v4(embedded_tail());
    }
    // ::a.b.c.d (deprecated IPv4-compatible) and anything else in ::/8.
    if s[0] == 0 {
        return Some(BlockReason::Reserved);
    }
    // 64:ff9b::/96, the well-known NAT64 prefix: the gateway connects to
    // the embedded IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded_tail());
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Some(BlockReason::LocalNat64);
    }
    if s[..4] == [0x100, 0, 0, 0] {
        return Some(BlockReason::DiscardOnly);
    }
    if s[0] == 0x2001 {
        match s[1] {
            0 => return Some(BlockReason::Teredo),
            2 if s[2] == 0 => return Some(BlockReason::Benchmarking),
            0x10..=0x2f => return Some(BlockReason::Reserved), // ORCHID (v1 and v2)
            0xdb8 => return Some(BlockReason::Documentation),
            _ => {}
        }
    }
    // 6to4: the relay forwards to the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return classify_v4(v4);
    }
    if s[0] == 0x3fff && s[1] & 0xf000 == 0 {
        return Some(BlockReason::Documentation); // 3fff::/20
    }
    let reason = match s[0] {
        0xfc00..=0xfdff => BlockReason::UniqueLocal,
        0xfe80..=0xfebf => BlockReason::LinkLocal,
        0xfec0..=0xfeff => BlockReason::SiteLocal,
        0xff00..=0xffff => BlockReason::Multicast,
        // Only 2000::/3 is allocated for global unicast.
        first if first & 0xe000 != 0x2000 => BlockReason::Reserved,
        _ => return None,
    };
    Some(reason)
}

/// An allow-list entry: a host name (exact, or `*.suffix`), an IP address
/// or a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowEntry {
    Host(String),
    HostSuffix(String),
    Net { base: IpAddr, prefix: u8 },
}

impl AllowEntry {
    fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("an entry is empty".into());
        }
        if let Some((addr, prefix)) = entry.split_once('/') {
            let base: IpAddr = addr.trim_matches(['[', ']']).parse().map_err(|_| format!("{entry:?} is not a CIDR block"))?;
            let max = if base.is_ipv4() { 32 } else { 128 };
            let prefix: u8 =
                prefix.parse().ok().filter(|p| *p <= max).ok_or_else(|| format!("{entry:?} has a prefix length outside 0..={max}"))?;
            return Ok(Self::Net { base, prefix });
        }
        if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(Self::Net { base: ip, prefix: if ip.is_ipv4() { 32 } else { 128 } });
        }
        let host = normalise_host(entry);
        if let Some(suffix) = host.strip_prefix("*.") {
            if !is_host_name(suffix) {
                return Err(format!("{entry:?} is not a host name, IP address or CIDR block"));
            }
            return Ok(Self::HostSuffix(format!(".{suffix}")));
        }
        if !is_host_name(&host) {
            return Err(format!("{entry:?} is not a host name, IP address or CIDR block"));
        }
        Ok(Self::Host(host))
    }

    fn contains_ip(&self, ip: IpAddr) -> bool {
        let Self::Net { base, prefix } = self else { return false };
        match (base, canonical(ip)) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    fn matches_host(&self, host: &str) -> bool {
        match self {
            Self::Host(h) => h == host,
            Self::HostSuffix(suffix) => host.ends_with(suffix.as_str()),
            Self::Net { .. } => false,
        }
    }
}

/// `::ffff:a.b.c.d` is `a.b.c.d` for allow-list matching.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The destinations allowed despite not being public: host names (their
/// every resolved address is accepted), IP addresses and CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<AllowEntry>);

impl AllowList {
    /// Parses entries like `127.0.0.1`, `10.0.0.0/8`, `::1`, `[fd00::]/8`,
    /// `hooks.internal` or `*.svc.cluster.local`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries.iter().map(|e| AllowEntry::parse(e.as_ref())).collect::<Result<Vec<_>, _>>().map(Self)
    }

    /// Like [`AllowList::parse`], but drops (and logs) invalid entries: a
    /// handler built from a configuration that skipped `validate()` allows
    /// less, never more.
    pub fn parse_lenient<S: AsRef<str>>(entries: &[S], setting: &str) -> Self {
        Self(
            entries
                .iter()
                .filter_map(|e| {
                    AllowEntry::parse(e.as_ref())
                        .map_err(|reason| tracing::error!(setting, reason, "ignoring an invalid allow-list entry"))
                        .ok()
                })
                .collect(),
        )
    }

    fn allows_host(&self, host: &str) -> bool {
        self.0.iter().any(|e| e.matches_host(host))
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|e| e.contains_ip(ip))
    }
}

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("{host} resolves to {addr}, a {reason} address, which is not allow-listed")]
    Blocked { host: String, addr: IpAddr, reason: BlockReason },
    #[error("cannot resolve {host}: {message}")]
    Resolve { host: String, message: String },
}

impl GuardError {
    /// `invalid_url` and `ssrf_blocked` are permanent (the same URL will be
    /// refused again); a failed lookup (`dns_error`) is retried.
    pub fn into_job_error(self) -> JobError {
        match self {
            Self::InvalidUrl(_) => JobError::permanent("invalid_url", self),
            Self::Blocked { .. } => JobError::permanent("ssrf_blocked", self),
            Self::Resolve { .. } => JobError::retryable_as("dns_error", self),
        }
    }
}

/// A checked destination: the URL and the addresses to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub url: Url,
    /// Lower-cased host, without brackets for IPv6 literals.
    pub host: String,
    pub port: u16,
    /// Checked addresses, sorted; the request must go to one of these.
    pub addrs: Vec<SocketAddr>,
    /// Whether `host` is a name (so the client must be pinned), not an IP literal.
    pub is_domain: bool,
}

impl Destination {
    /// `host:port`, the key of per-destination limits.
    pub fn authority(&self) -> String {
        match self.url.host() {
            Some(url::Host::Ipv6(_)) => format!("[{}]:{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

/// Checks URLs against the SSRF rules; see the module docs.
#[derive(Debug, Clone)]
pub struct SsrfGuard {
    allow: AllowList,
    require_https: bool,
    resolve_timeout: Duration,
}

impl SsrfGuard {
    pub fn new(allow: AllowList, require_https: bool, resolve_timeout: Duration) -> Self {
        Self { allow, require_https, resolve_timeout }
    }

    /// Parses and validates `url` without resolving it.
    pub fn parse(&self, url: &str) -> Result<Url, GuardError> {
        let parsed = Url::parse(url).map_err(|e| GuardError::InvalidUrl(format!("{e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if !self.require_https => {}
            "http" => return Err(GuardError::InvalidUrl("only https:// URLs are allowed".into())),
            other => return Err(GuardError::InvalidUrl(format!("scheme {other}:// is not http(s)"))),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(GuardError::InvalidUrl("URLs with credentials (user:password@) are not allowed".into()));
        }
        if parsed.host().is_none() {
            return Err(GuardError::InvalidUrl("the URL has no host".into()));
        }
        Ok(parsed)
    }

    /// Parses, resolves and checks `url`. Every resolved address must be
    /// public or allow-listed (one bad address refuses the whole host: a
    /// name that mixes public and internal addresses is not trusted).
    pub async fn check(&self, url: &str) -> Result<Destination, GuardError> {
        let url = self.parse(url)?;
        let port = url.port_or_known_default().ok_or_else(|| GuardError::InvalidUrl("the URL has no port".into()))?;
        let (host, ips, is_domain) = match url.host() {
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), vec![IpAddr::V4(ip)], false),
            Some(url::Host::Ipv6(ip)) => (ip.to_string(), vec![IpAddr::V6(ip)], false),
            Some(url::Host::Domain(name)) => {
                let host = normalise_host(name);
                let ips = self.resolve(&host, port).await?;
                (host, ips, true)
            }
            None => return Err(GuardError::InvalidUrl("the URL has no host".into())),
        };
        if !(is_domain && self.allow.allows_host(&host)) {
            for &ip in &ips {
                if let Some(reason) = classify(ip)
                    && !self.allow.allows_ip(ip)
                {
                    return Err(GuardError::Blocked { host, addr: ip, reason });
                }
            }
        }
        let mut addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect();
        addrs.sort_unstable();
        addrs.dedup();
        Ok(Destination { url, host, port, addrs, is_domain })
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, GuardError> {
        let failed = |message: String| GuardError::Resolve { host: host.to_owned(), message };
        let lookup = tokio::time::timeout(self.resolve_timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| failed(format!("no answer within {:?}", self.resolve_timeout)))?
            .map_err(|e| failed(e.to_string()))?;
        let ips: Vec<IpAddr> = lookup.map(|a| a.ip()).collect();
        if ips.is_empty() {
            return Err(failed("no addresses".into()));
        }
        Ok(ips)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Option<BlockReason> {
        classify(s.parse::<Ipv4Addr>().expect("ipv4 literal").into())
    }

    fn v6(s: &str) -> Option<BlockReason> {
        classify(s.parse::<Ipv6Addr>().expect("ipv6 literal").into())
    }

    #[test]
    fn ipv4_ranges_are_classified_at_their_edges() {
        use BlockReason::*;
        let cases: &[(&str, Option<BlockReason>)] = &[
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(ThisNetwork)),
            ("0.255.255.255", Some(ThisNetwork)),
            ("1.0.0.0", None),
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("9.255.255.255", None),
            ("10.0.0.0", Some(Private)),
            ("10.0.0.1", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("11.0.0.0", None),
            ("100.63.255.255", None),
            ("100.64.0.0", Some(SharedAddressSpace)),
            ("100.100.100.200", Some(SharedAddressSpace)),
            ("100.127.255.255", Some(SharedAddressSpace)),
            ("100.128.0.0", None),
            ("126.255.255.255", None),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("128.0.0.0", None),
            ("169.253.255.255", None),
            ("169.254.0.0", Some(LinkLocal)),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.254.255.255", Some(LinkLocal)),
            ("169.255.0.0", None),
            ("172.15.255.255", None),
            ("172.16.0.0", Some(Private)),
            ("172.20.10.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.0", None),
            ("192.0.0.0", Some(ProtocolAssignments)),
            ("192.0.0.255", Some(ProtocolAssignments)),
            ("192.0.1.0", None),
            ("192.0.2.0", Some(Documentation)),
            ("192.0.2.255", Some(Documentation)),
            ("192.0.3.0", None),
            ("192.88.98.255", None),
            ("192.88.99.1", Some(Reserved)),
            ("192.88.100.0", None),
            ("192.167.255.255", None),
            ("192.168.0.0", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("192.168.255.255", Some(Private)),
            ("192.169.0.0", None),
            ("198.17.255.255", None),
            ("198.18.0.0", Some(Benchmarking)),
            ("198.19.255.255", Some(Benchmarking)),
            ("198.20.0.0", None),
            ("198.51.100.7", Some(Documentation)),
            ("198.51.101.0", None),
            ("203.0.112.255", None),
            ("203.0.113.9", Some(Documentation)),
            ("203.0.114.0", None),
            ("223.255.255.255", None),
            ("224.0.0.0", Some(Multicast)),
            ("239.255.255.255", Some(Multicast)),
            ("240.0.0.0", Some(Reserved)),
            ("255.255.255.254", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
        ];
        for (ip, want) in cases {
            assert_eq!(v4(ip), *want, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_and_embedded_ipv4_are_classified() {
        use BlockReason::*;
        let cases: &[(&str, Option<BlockReason>)] = &[
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::2", Some(Reserved)),
            ("::127.0.0.1", Some(Reserved)),
            ("::8.8.8.8", Some(Reserved)),
            // IPv4-mapped: judged by the IPv4 address.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:100.64.0.1", Some(SharedAddressSpace)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:8.8.8.8", None),
            // IPv4-translated (::ffff:0:a.b.c.d) is not mapped: reserved.
            ("::ffff:0:8.8.8.8", Some(Reserved)),
            // NAT64 well-known prefix: judged by the IPv4 address.
            ("64:ff9b::127.0.0.1", Some(Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(LinkLocal)),
            ("64:ff9b::192.168.0.1", Some(Private)),
            ("64:ff9b::8.8.8.8", None),
            ("64:ff9b:1::8.8.8.8", Some(LocalNat64)),
            ("64:ff9b:1:ffff::1", Some(LocalNat64)),
            ("100::1", Some(DiscardOnly)),
            ("100::ffff:ffff:ffff:ffff", Some(DiscardOnly)),
            ("100:0:0:1::", Some(Reserved)),
            ("2001::1", Some(Teredo)),
            ("2001:0:ffff::", Some(Teredo)),
            ("2001:1::1", None),
            ("2001:2::1", Some(Benchmarking)),
            ("2001:2:1::1", None),
            ("2001:10::1", Some(Reserved)),
            ("2001:20::1", Some(Reserved)),
            ("2001:2f:ffff::", Some(Reserved)),
            ("2001:30::1", None),
            ("2001:db8::1", Some(Documentation)),
            ("2001:db8:ffff:ffff::", Some(Documentation)),
            ("2001:db9::1", None),
            ("2001:4860:4860::8888", None),
            ("2606:4700:4700::1111", None),
            // 6to4: judged by the embedded IPv4 address.
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:a00:1::1", Some(Private)),
            ("2002:a9fe:a9fe::", Some(LinkLocal)),
            ("2002:808:808::1", None),
            ("3fff::1", Some(Documentation)),
            ("3fff:fff:ffff::", Some(Documentation)),
            ("3ffe::1", None),
            ("3fff:1000::1", None),
            ("3ff0::1", None),
            ("4000::1", Some(Reserved)),
            ("1fff::1", Some(Reserved)),
            ("fc00::1", Some(UniqueLocal)),
            ("fd12:3456::1", Some(UniqueLocal)),
            ("fdff:ffff::", Some(UniqueLocal)),
            ("fe00::1", Some(Reserved)),
            ("fe80::1", Some(LinkLocal)),
            ("febf:ffff::1", Some(LinkLocal)),
            ("fec0::1", Some(SiteLocal)),
            ("ff02::1", Some(Multicast)),
            ("ff0e::101", Some(Multicast)),
        ];
        for (ip, want) in cases {
            assert_eq!(v6(ip), *want, "{ip}");
        }
    }

    #[test]
    fn allow_list_entries_parse_and_match() {
        let allow = AllowList::parse(&["127.0.0.1", "10.1.0.0/16", "[::1]", "fd00::/8", "Hooks.Internal.", "*.svc.cluster.local"])
            .expect("valid entries");
        assert!(allow.allows_ip("127.0.0.1".parse().expect("ip")));
        assert!(!allow.allows_ip("127.0.0.2".parse().expect("ip")));
        assert!(allow.allows_ip("::ffff:127.0.0.1".parse().expect("ip")), "mapped form of an allowed IPv4");
        assert!(allow.allows_ip("10.1.200.3".parse().expect("ip")));
        assert!(!allow.allows_ip("10.2.0.1".parse().expect("ip")));
        assert!(allow.allows_ip("::1".parse().expect("ip")));
        assert!(allow.allows_ip("fdab::1".parse().expect("ip")));
        assert!(!allow.allows_ip("fe80::1".parse().expect("ip")));
        assert!(allow.allows_host("hooks.internal"));
        assert!(allow.allows_host("api.ai.svc.cluster.local"));
        assert!(!allow.allows_host("svc.cluster.local"));
        assert!(!allow.allows_host("evil-hooks.internal"));
        assert!(AllowList::parse(&["0.0.0.0/0"]).expect("all v4").allows_ip("10.0.0.1".parse().expect("ip")));
        for bad in ["", "10.0.0.0/33", "::/129", "not a host", "http://x", "*."] {
            assert!(AllowList::parse(&[bad]).is_err(), "{bad:?} should be rejected");
        }
    }

    fn guard(allow: &[&str]) -> SsrfGuard {
        SsrfGuard::new(AllowList::parse(allow).expect("allow list"), false, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn internal_targets_are_refused_unless_allow_listed() {
        let strict = guard(&[]);
        for url in [
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8080/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://localhost:9090/metrics",
            "http://LOCALHOST./",
            "http://0.0.0.0/",
        ] {
            match strict.check(url).await {
                Err(e @ GuardError::Blocked { .. }) => assert_eq!(e.into_job_error().class(), "ssrf_blocked", "{url}"),
                other => panic!("{url}: expected blocked, got {other:?}"),
            }
        }
        let allowed = guard(&["127.0.0.1"]).check("http://127.0.0.1:8080/x").await.expect("allow-listed");
        assert_eq!(allowed.addrs, vec![SocketAddr::from(([127, 0, 0, 1], 8080))]);
        assert_eq!(allowed.authority(), "127.0.0.1:8080");
        let by_name = guard(&["localhost"]).check("http://localhost:1/").await.expect("allow-listed by name");
        assert!(by_name.is_domain && !by_name.addrs.is_empty());
    }

    #[test]
    fn urls_must_be_http_s_without_credentials() {
        let https_only = SsrfGuard::new(AllowList::default(), true, Duration::from_secs(1));
        for (url, why) in [
            ("ftp://example.com/", "scheme"),
            ("http://example.com/", "https"),
            ("https://user:pw@example.com/", "credentials"),
            ("not a url", "relative URL"),
            ("file:///etc/passwd", "scheme"),
        ] {
            let err = https_only.parse(url).expect_err(url);
            assert!(err.to_string().contains(why), "{url}: {err}");
            assert_eq!(err.into_job_error().class(), "invalid_url");
        }
        assert!(https_only.parse("https://hooks.example.com/x?y=1").is_ok());
    }
}
