//! `worker console` settings: flags with `JOBFLEET_CONSOLE_*` environment
//! variables, validated at start-up into [`Settings`] with errors that name
//! the setting. Secrets (the bearer token, the CSRF key) are never printed:
//! clap hides their values and `Settings`' Debug leaves them out.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use clap::{Args, ValueEnum};
use ipnet::IpNet;
use serde::Serialize;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads every page; no action.
    Viewer,
    /// Also replays, redrives and purges dead letters.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }
}

/// How a request may prove who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethod {
    /// An auth proxy (oauth2-proxy style) in front sets X-Forwarded-User /
    /// X-Forwarded-Email; believed only from `--trusted-proxies`.
    Proxy,
    /// `Authorization: Bearer <--token>`, for local use and scripts.
    Token,
}

#[derive(Clone, Args)]
pub struct ConsoleArgs {
    /// Address the console listens on.
    #[arg(long, env = "JOBFLEET_CONSOLE_LISTEN", default_value = "127.0.0.1:9400")]
    pub listen: SocketAddr,
    /// Accepted authentication: proxy, token, or both (comma-separated).
    #[arg(long, env = "JOBFLEET_CONSOLE_AUTH", value_enum, value_delimiter = ',', default_value = "proxy")]
    pub auth: Vec<AuthMethod>,
    /// The bearer token of `--auth token` (at least 16 characters).
    #[arg(long, env = "JOBFLEET_CONSOLE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The user a bearer token acts as (audit rows name it `token:<user>`).
    #[arg(long, env = "JOBFLEET_CONSOLE_TOKEN_USER", default_value = "local")]
    pub token_user: String,
    /// Role of the bearer token.
    #[arg(long, env = "JOBFLEET_CONSOLE_TOKEN_ROLE", value_enum, default_value = "operator")]
    pub token_role: Role,
    /// Addresses (CIDRs) of the auth proxy; identity headers from anywhere else are refused.
    #[arg(long, env = "JOBFLEET_CONSOLE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,
    /// Header with the proxy's comma-separated groups.
    #[arg(long, env = "JOBFLEET_CONSOLE_GROUPS_HEADER", default_value = "X-Forwarded-Groups")]
    pub groups_header: String,
    /// Operators: user names, emails or `group:NAME` (comma-separated).
    #[arg(long, env = "JOBFLEET_CONSOLE_OPERATORS", value_delimiter = ',')]
    pub operators: Vec<String>,
    /// Viewers: user names, emails, `group:NAME`, or `*` for every authenticated user.
    #[arg(long, env = "JOBFLEET_CONSOLE_VIEWERS", value_delimiter = ',')]
    pub viewers: Vec<String>,
    /// Payload fields shown as `[redacted]` (any depth, case-insensitive).
    #[arg(
        long,
        env = "JOBFLEET_CONSOLE_REDACT",
        value_delimiter = ',',
        default_value = "to,phone_number,api_key,password,secret,token,authorization"
    )]
    pub redact: Vec<String>,
    /// Let requests without credentials in (local demos only).
    #[arg(long, env = "JOBFLEET_CONSOLE_ALLOW_ANONYMOUS")]
    pub allow_anonymous: bool,
    /// Role of anonymous requests when they are allowed.
    #[arg(long, env = "JOBFLEET_CONSOLE_ANONYMOUS_ROLE", value_enum, default_value = "viewer")]
    pub anonymous_role: Role,
    /// Replays of more messages than this need the count typed to confirm.
    #[arg(long, env = "JOBFLEET_CONSOLE_CONFIRM_ABOVE", default_value_t = 50)]
    pub confirm_above: u64,
    /// The console's external origin (`https://console.example.com`): state-changing
    /// requests from another Origin are refused. Unset: the request's own Host.
    #[arg(long, env = "JOBFLEET_CONSOLE_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,
    /// Key of the CSRF tokens; give replicas the same one (random per process when unset).
    #[arg(long, env = "JOBFLEET_CONSOLE_CSRF_KEY", hide_env_values = true)]
    pub csrf_key: Option<String>,
    /// DLQ messages a triage or browse page peeks at most.
    #[arg(long, env = "JOBFLEET_CONSOLE_PEEK_LIMIT", default_value_t = 500)]
    pub peek_limit: usize,
    /// How long a peek or replay holds DLQ messages it does not act on.
    #[arg(long, env = "JOBFLEET_CONSOLE_VISIBILITY_SECS", default_value_t = 30)]
    pub visibility_secs: u32,
    /// Largest request body accepted.
    #[arg(long, env = "JOBFLEET_CONSOLE_MAX_BODY_BYTES", default_value_t = 16_384)]
    pub max_body_bytes: usize,
}

impl fmt::Debug for ConsoleArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleArgs").field("listen", &self.listen).field("auth", &self.auth).finish_non_exhaustive()
    }
}

/// A setting that cannot work, named as the operator set it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct SettingsError {
    pub setting: &'static str,
    pub problem: String,
}

fn bad(setting: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError { setting, problem: problem.into() }
}

/// Who gets which role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap {
    operators: Vec<String>,
    viewers: Vec<String>,
}

impl RoleMap {
    pub fn new(operators: &[String], viewers: &[String]) -> Self {
        let clean = |list: &[String]| list.iter().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect();
        Self { operators: clean(operators), viewers: clean(viewers) }
    }

    /// The highest role any of the user's names or groups is given; none
    /// when the user is not mapped at all.
    pub fn role_of(&self, names: &[&str], groups: &[&str]) -> Option<Role> {
        let hit = |entries: &[String]| {
            entries.iter().any(|entry| match entry.strip_prefix("group:") {
                Some(group) => groups.iter().any(|g| g.trim().eq_ignore_ascii_case(group)),
                None => entry == "*" || names.iter().any(|n| n.eq_ignore_ascii_case(entry)),
            })
        };
        if hit(&self.operators) {
            Some(Role::Operator)
        } else if hit(&self.viewers) {
            Some(Role::Viewer)
        } else {
            None
        }
    }
}

/// Validated settings.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub proxy_auth: bool,
    pub token: Option<String>,
    pub token_user: String,
    pub token_role: Role,
    pub trusted_proxies: Vec<IpNet>,
    pub groups_header: String,
    pub roles: RoleMap,
    pub redact: Vec<String>,
    pub anonymous: Option<Role>,
    pub confirm_above: u64,
    pub public_origin: Option<String>,
    pub csrf_key: Vec<u8>,
    pub peek_limit: usize,
    pub visibility_secs: i32,
    pub max_body_bytes: usize,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("proxy_auth", &self.proxy_auth)
            .field("token", &self.token.as_ref().map(|_| "[set]"))
            .field("trusted_proxies", &self.trusted_proxies)
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

impl ConsoleArgs {
    pub fn validate(self) -> Result<Settings, SettingsError> {
        let proxy_auth = self.auth.contains(&AuthMethod::Proxy);
        let token_auth = self.auth.contains(&AuthMethod::Token);
        let token = match (token_auth, self.token) {
            (true, Some(t)) if t.trim().len() >= 16 => Some(t.trim().to_owned()),
            (true, Some(_)) => return Err(bad("JOBFLEET_CONSOLE_TOKEN", "must be at least 16 characters")),
            (true, None) => return Err(bad("JOBFLEET_CONSOLE_TOKEN", "required by JOBFLEET_CONSOLE_AUTH=token")),
            (false, _) => None,
        };
        if proxy_auth && self.trusted_proxies.is_empty() {
            return Err(bad(
                "JOBFLEET_CONSOLE_TRUSTED_PROXIES",
                "required by JOBFLEET_CONSOLE_AUTH=proxy: the auth proxy's addresses (e.g. 10.0.0.0/8)",
            ));
        }
        if self.auth.is_empty() && !self.allow_anonymous {
            return Err(bad("JOBFLEET_CONSOLE_AUTH", "no authentication method and anonymous access not allowed"));
        }
        if self.token_user.trim().is_empty() {
            return Err(bad("JOBFLEET_CONSOLE_TOKEN_USER", "must not be empty"));
        }
        if http_header_name(&self.groups_header).is_none() {
            return Err(bad("JOBFLEET_CONSOLE_GROUPS_HEADER", format!("{:?} is not a header name", self.groups_header)));
        }
        if self.confirm_above == 0 {
            return Err(bad("JOBFLEET_CONSOLE_CONFIRM_ABOVE", "must be at least 1"));
        }
        if let Some(origin) = &self.public_origin
            && !(origin.starts_with("https://") || origin.starts_with("http://"))
        {
            return Err(bad("JOBFLEET_CONSOLE_PUBLIC_ORIGIN", "must be an origin like https://console.example.com"));
        }
        if !(1..=10_000).contains(&self.peek_limit) {
            return Err(bad("JOBFLEET_CONSOLE_PEEK_LIMIT", "must be 1–10000"));
        }
        if !(5..=43_200).contains(&self.visibility_secs) {
            return Err(bad("JOBFLEET_CONSOLE_VISIBILITY_SECS", "must be 5–43200 seconds"));
        }
        if !(1024..=1 << 20).contains(&self.max_body_bytes) {
            return Err(bad("JOBFLEET_CONSOLE_MAX_BODY_BYTES", "must be 1 KiB – 1 MiB"));
        }
        let csrf_key = match self.csrf_key {
            Some(key) if key.len() >= 32 => key.into_bytes(),
            Some(_) => return Err(bad("JOBFLEET_CONSOLE_CSRF_KEY", "must be at least 32 characters")),
            None => {
                let mut key = Vec::with_capacity(32);
                key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
                key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
                key
            }
        };
        Ok(Settings {
            listen: self.listen,
            proxy_auth,
            token,
            token_user: self.token_user.trim().to_owned(),
            token_role: self.token_role,
            trusted_proxies: self.trusted_proxies,
            groups_header: self.groups_header.to_ascii_lowercase(),
            roles: RoleMap::new(&self.operators, &self.viewers),
            redact: self.redact.iter().map(|f| f.trim().to_ascii_lowercase()).filter(|f| !f.is_empty()).collect(),
            anonymous: self.allow_anonymous.then_some(self.anonymous_role),
            confirm_above: self.confirm_above,
            public_origin: self.public_origin.map(|o| o.trim_end_matches('/').to_owned()),
            csrf_key,
            peek_limit: self.peek_limit,
            visibility_secs: self.visibility_secs as i32,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

fn http_header_name(name: &str) -> Option<axum::http::HeaderName> {
    axum::http::HeaderName::from_bytes(name.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ConsoleArgs,
    }

    fn parse(args: &[&str]) -> Result<Settings, SettingsError> {
        let mut all = vec!["console"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parses").args.validate()
    }

    #[test]
    fn errors_name_the_setting() {
        assert_eq!(parse(&[]).expect_err("proxy needs proxies").setting, "JOBFLEET_CONSOLE_TRUSTED_PROXIES");
        assert_eq!(parse(&["--auth", "token"]).expect_err("token").setting, "JOBFLEET_CONSOLE_TOKEN");
        assert_eq!(parse(&["--auth", "token", "--token", "short"]).expect_err("short").setting, "JOBFLEET_CONSOLE_TOKEN");
        let ok = parse(&["--auth", "proxy,token", "--token", "0123456789abcdef", "--trusted-proxies", "10.0.0.0/8"]).expect("valid");
        assert!(ok.proxy_auth && ok.token.is_some() && ok.anonymous.is_none());
        assert!(!format!("{ok:?}").contains("0123456789abcdef"), "the token is not in Debug output");
    }

    #[test]
    fn roles_map_users_emails_and_groups_operator_first() {
        let map = RoleMap::new(&["alice".into(), "group:SRE".into()], &["*".into()]);
        assert_eq!(map.role_of(&["Alice"], &[]), Some(Role::Operator));
        assert_eq!(map.role_of(&["bob"], &["sre"]), Some(Role::Operator));
        assert_eq!(map.role_of(&["bob"], &["dev"]), Some(Role::Viewer));
        let closed = RoleMap::new(&["alice".into()], &["carol@example.com".into()]);
        assert_eq!(closed.role_of(&["bob"], &[]), None);
        assert_eq!(closed.role_of(&["carol", "carol@example.com"], &[]), Some(Role::Viewer));
    }

    #[test]
    fn trusted_proxies_match_v4_mapped_v6_peers() {
        let s = parse(&["--trusted-proxies", "127.0.0.1/32"]).expect("valid");
        assert!(s.is_trusted_proxy("127.0.0.1".parse().expect("ip")));
        assert!(s.is_trusted_proxy("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!s.is_trusted_proxy("10.1.2.3".parse().expect("ip")));
    }
}
