//! Who is asking, and may they: authentication (auth proxy headers from
//! trusted addresses, a bearer token, or anonymous when enabled), the role
//! from the configured mapping, and CSRF protection of every state-changing
//! request.
//!
//! CSRF tokens are synchronizer tokens without server state: an HMAC of the
//! authenticated user under the console's key. A page embeds the token of
//! its viewer; another site can neither read nor compute it. The console
//! sets no cookies of its own (the proxy's session cookie is the ambient
//! credential CSRF is about), and an Origin (or Referer) that is not the
//! console's is refused as well.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use serde::Serialize;

use crate::error::ConsoleError;
use crate::settings::{Role, Settings};
use crate::state::AppState;

pub const USER_HEADER: &str = "x-forwarded-user";
pub const EMAIL_HEADER: &str = "x-forwarded-email";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// How a principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Proxy,
    Token,
    Anonymous,
}

/// The authenticated user of a request; audit rows name `actor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub actor: String,
    pub role: Role,
    pub via: Via,
}

impl Principal {
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }

    pub fn require_operator(&self) -> Result<(), ConsoleError> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(ConsoleError::forbidden(format!("{} is a viewer; this action needs the operator role", self.actor)))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| ConsoleError::unauthenticated("not authenticated"))
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Constant-time comparison, so a token cannot be guessed byte by byte from timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decides who the request is from.
pub fn authenticate(settings: &Settings, peer: SocketAddr, headers: &HeaderMap) -> Result<Principal, ConsoleError> {
    let user = header_str(headers, USER_HEADER);
    let email = header_str(headers, EMAIL_HEADER);
    if user.is_some() || email.is_some() {
        if !settings.proxy_auth || !settings.is_trusted_proxy(peer.ip()) {
            tracing::warn!(peer = %peer.ip(), "identity headers from an address that is not a trusted proxy; refused");
            return Err(ConsoleError::unauthenticated("identity headers are accepted only from the auth proxy"));
        }
        let groups: Vec<&str> = header_str(headers, &settings.groups_header).map(|g| g.split(',').collect()).unwrap_or_default();
        let names: Vec<&str> = user.into_iter().chain(email).collect();
        let actor = email.or(user).unwrap_or_default().to_owned();
        return match settings.roles.role_of(&names, &groups) {
            Some(role) => Ok(Principal { actor, role, via: Via::Proxy }),
            None => Err(ConsoleError::forbidden(format!("{actor} has no role in this console; ask for one in JOBFLEET_CONSOLE_VIEWERS"))),
        };
    }
    if let Some(auth) = header_str(headers, header::AUTHORIZATION.as_str()) {
        let given = auth.strip_prefix("Bearer ").map(str::trim);
        return match (&settings.token, given) {
            (Some(token), Some(given)) if same(token.as_bytes(), given.as_bytes()) => {
                Ok(Principal { actor: format!("token:{}", settings.token_user), role: settings.token_role, via: Via::Token })
            }
            _ => Err(ConsoleError::unauthenticated("the bearer token is not valid")),
        };
    }
    match settings.anonymous {
        Some(role) => Ok(Principal { actor: "anonymous".to_owned(), role, via: Via::Anonymous }),
        None => Err(ConsoleError::unauthenticated("sign in through the auth proxy, or send Authorization: Bearer <token>")),
    }
}

/// Authenticates every request (static files excepted) and, for every
/// state-changing one, checks the role and the CSRF token before the
/// handler runs.
pub async fn guard(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path.starts_with("/static/") || path == "/healthz" {
        return next.run(request).await;
    }
    let json = path.starts_with("/api/");
    let principal = match authenticate(&state.settings, peer, request.headers()) {
        Ok(p) => p,
        Err(e) => return e.respond(json),
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        if let Err(e) = principal.require_operator() {
            return e.respond(json);
        }
        if let Err(e) = check_origin(&state.settings, request.headers()) {
            return e.respond(json);
        }
        // The token is in the X-CSRF-Token header (API, JS) or the form's
        // `csrf` field; the body is read here (within the size limit) so no
        // handler can forget the check.
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, state.settings.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(_) => return ConsoleError::too_large(state.settings.max_body_bytes).respond(json),
        };
        let is_form =
            header_str(&parts.headers, header::CONTENT_TYPE.as_str()).is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let from_form = || {
            if !is_form {
                return None;
            }
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .ok()
                .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v))
        };
        let token = header_str(&parts.headers, CSRF_HEADER).map(str::to_owned).or_else(from_form);
        if !token.is_some_and(|t| csrf_matches(&state.settings.csrf_key, &principal, &t)) {
            return ConsoleError::csrf().respond(json);
        }
        request = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    request.extensions_mut().insert(principal);
    let mut response = next.run(request).await;
    if json && let Some(error) = response.extensions().get::<ConsoleError>().cloned() {
        response = error.respond(true);
    }
    if response.status() == StatusCode::OK || response.status().is_redirection() {
        response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    response
}

fn origin_of(url: &str) -> Option<&str> {
    let rest_at = url.find("://")? + 3;
    let end = url[rest_at..].find('/').map_or(url.len(), |i| rest_at + i);
    Some(&url[..end])
}

/// A browser's state-changing request must come from the console's own
/// pages: its Origin (else Referer) must be the console's origin.
fn check_origin(settings: &Settings, headers: &HeaderMap) -> Result<(), ConsoleError> {
    let claimed = header_str(headers, header::ORIGIN.as_str())
        .filter(|o| *o != "null")
        .map(str::to_owned)
        .or_else(|| header_str(headers, header::REFERER.as_str()).and_then(origin_of).map(str::to_owned));
    let Some(claimed) = claimed else {
        // Not a browser (curl, scripts): the CSRF token alone decides.
        return if header_str(headers, header::ORIGIN.as_str()) == Some("null") { Err(ConsoleError::csrf_origin("null")) } else { Ok(()) };
    };
    let ok = match &settings.public_origin {
        Some(origin) => claimed.eq_ignore_ascii_case(origin),
        None => match header_str(headers, header::HOST.as_str()) {
            Some(host) => {
                claimed.eq_ignore_ascii_case(&format!("http://{host}")) || claimed.eq_ignore_ascii_case(&format!("https://{host}"))
            }
            None => false,
        },
    };
    if ok { Ok(()) } else { Err(ConsoleError::csrf_origin(&claimed)) }
}

/// The CSRF token of `principal` under `key`.
pub fn csrf_token(key: &[u8], principal: &Principal) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(b"jobfleet-console-csrf\0");
    mac.update(principal.actor.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn csrf_matches(key: &[u8], principal: &Principal, given: &str) -> bool {
    same(csrf_token(key, principal).as_bytes(), given.trim().as_bytes())
}

impl IntoResponse for Principal {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_cut_from_urls() {
        assert_eq!(origin_of("https://c.example.com/dlq/media?x=1"), Some("https://c.example.com"));
        assert_eq!(origin_of("http://127.0.0.1:9400"), Some("http://127.0.0.1:9400"));
        assert_eq!(origin_of("nonsense"), None);
    }

    #[test]
    fn tokens_are_per_user() {
        let alice = Principal { actor: "alice".into(), role: Role::Operator, via: Via::Proxy };
        let bob = Principal { actor: "bob".into(), ..alice.clone() };
        let t = csrf_token(b"k", &alice);
        assert!(csrf_matches(b"k", &alice, &t));
        assert!(!csrf_matches(b"k", &bob, &t));
        assert!(!csrf_matches(b"other", &alice, &t));
        assert!(!csrf_matches(b"k", &alice, ""));
    }
}
