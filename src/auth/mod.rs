//! Who may call what, in one place, for the API and the pages alike. A route exists only
//! through [`Routes`], which registers it together with its [`Policy`], so no route lacks one
//! and no path is written twice. [`check`] looks the matched route up, finds the caller (a bearer
//! token, or a signed-in session's cookie), checks anti-forgery on state-changing requests made
//! with a cookie, and checks the role. A route missing from the table is refused (fail closed).
//! How a refusal looks (JSON, an error page, a sign-in redirect) is the HTTP layers' business.

pub mod login;

use crate::config::Sessions;
use crate::domain::{Role, Secret};
use crate::service::{AppError, AppState, Caller, SessionRef};
use crate::store::admin::token_digest;
use crate::store::query::{self, Principal};
use crate::store::{displays, sessions};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};

mod routes;
pub use routes::{Policy, PolicyTable, Routes, Rule};

use Policy::{Any, Display, Public, Scan, User};

/// Pages answer in HTML (a sign-in redirect, an error page); everything else in JSON.
pub fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/metrics" || path == "/healthz")
}

/// The session cookie's name: `__Host-` prefixed when served over TLS.
pub fn cookie_name(s: &Sessions) -> &'static str {
    if s.secure_cookies {
        "__Host-chartrack"
    } else {
        "chartrack_session"
    }
}

/// A wall display's cookie: `__Host-` prefixed when served over TLS.
pub fn display_cookie_name(s: &Sessions) -> &'static str {
    if s.secure_cookies {
        "__Host-chartrack-display"
    } else {
        "chartrack_display"
    }
}

/// The Set-Cookie value for a wall display's secret. It lasts as long as browsers let a
/// cookie last (400 days): a wall screen restarts; the display ends when an admin revokes it.
pub fn set_display_cookie(s: &Sessions, secret: &Secret) -> HeaderValue {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let name = display_cookie_name(s);
    let v = format!(
        "{name}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=34560000{secure}",
        secret.expose()
    );
    HeaderValue::from_str(&v).expect("cookie is ASCII")
}

/// The Set-Cookie value for a session secret (or its removal, with `None`).
pub fn set_cookie(s: &Sessions, secret: Option<&Secret>) -> HeaderValue {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let name = cookie_name(s);
    let v = match secret {
        Some(v) => format!(
            "{name}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            v.expose()
        ),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&v).expect("cookie is ASCII")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 200)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A cross-site request. Browsers say where a request comes from in `Sec-Fetch-Site`; with our
/// `Referrer-Policy: no-referrer` a form's `Origin` is `null`, so it counts only when the fetch
/// metadata is missing (an older browser): then it must name this host.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(origin) => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let bare = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            bare != Some(host)
        }
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
/// address in `X-Forwarded-For` (read from the right) that is not itself a trusted proxy. A
/// header from anyone else is ignored: a client cannot pick the address it is counted as.
pub fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[crate::config::TrustedProxy],
) -> IpAddr {
    let is_trusted = |a: &IpAddr| trusted.iter().any(|t| t.contains(a));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|a| a.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|a| !is_trusted(a))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

fn remote_of(state: &AppState, req: &Request) -> String {
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(c) => client_address(c.0.ip(), req.headers(), &state.trusted_proxies).to_string(),
        None => "local".into(),
    }
}

/// A request a page's script makes by itself, not the person: a live stream (`Accept:
/// text/event-stream`), a list fragment (`?part=`) or the session probe (`/session`). It does
/// not count as activity: a page left open refreshing itself must not keep an idle session
/// alive (automatic logoff).
pub fn is_background(path_and_query: &str, headers: &HeaderMap) -> bool {
    let stream = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    let part = path_and_query
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("part=")));
    let probe = path_and_query.split('?').next() == Some("/session");
    stream || part || probe
}

/// A refusal at the gate: why, and, when a signed-in user's role falls short, who was refused
/// and the role the route needs (so a page can keep the menu and say what the role may do).
#[derive(Debug)]
pub struct Refusal {
    pub error: AppError,
    pub refused: Option<(Caller, Role)>,
}

impl From<AppError> for Refusal {
    fn from(error: AppError) -> Self {
        Refusal {
            error,
            refused: None,
        }
    }
}

/// The whole decision; on success the request carries its [`Caller`] and [`Principal`].
pub async fn check(
    state: &AppState,
    table: &PolicyTable,
    path: Option<&str>,
    req: Request,
) -> Result<Request, Refusal> {
    let policy = path
        .and_then(|p| table.policy_for(req.method(), p))
        .ok_or_else(|| AppError::Forbidden("this route is not classified for access".into()))?;
    if policy == Public {
        return Ok(req);
    }
    if policy == Display {
        // Only the display's own cookie: never a person's session or a token.
        let mut req = req;
        let remote = remote_of(state, &req);
        let now = state.store.clock().now();
        let secret = cookie(req.headers(), display_cookie_name(&state.sessions))
            .ok_or(AppError::Unauthorized)?
            .to_owned();
        let principal = display(state, secret, now).await?;
        req.extensions_mut().insert(principal.clone());
        req.extensions_mut().insert(Caller {
            principal,
            remote,
            session: None,
        });
        return Ok(req);
    }
    let (mut req, principal, caller) = identify(state, path, req).await?;
    let allowed = match (policy, &principal) {
        // Found by a token or a session: never a display.
        (_, Principal::Display { .. }) => false,
        (Public | Any | Scan, _) => true,
        (User(min), Principal::User { role, .. }) => role.at_least(min),
        (User(_), Principal::Station { .. }) => false,
        (Display, _) => false,
    };
    if !allowed {
        return Err(Refusal {
            error: AppError::Forbidden("your role may not do this".into()),
            refused: match policy {
                User(min) if caller.role().is_some() => Some((caller, min)),
                _ => None,
            },
        });
    }
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(caller);
    Ok(req)
}

/// Who is calling: a bearer token's principal, or a live session's user (after the
/// anti-forgery checks on a state-changing request and the one-time-password rule).
async fn identify(
    state: &AppState,
    path: Option<&str>,
    mut req: Request,
) -> Result<(Request, Principal, Caller), AppError> {
    let remote = remote_of(state, &req);
    let settings = state.sessions;
    let now = state.store.clock().now();
    let (principal, session) = if let Some(token) = bearer(req.headers()) {
        let digest = token_digest(token);
        let p = state
            .store
            .read(move |c| query::principal_by_digest(c, &digest))
            .await?
            .ok_or(AppError::Unauthorized)?;
        (p, None)
    } else if let Some(secret) = cookie(req.headers(), cookie_name(&settings)) {
        let secret = secret.to_owned();
        let found = state
            .store
            .read(move |c| sessions::find_live(c, &secret, now, settings.idle, settings.lifetime))
            .await?;
        let live = match found {
            Ok(live) => live,
            Err(ended) => {
                if let Some((id, reason)) = ended.to_end() {
                    state
                        .store
                        .write(move |c| sessions::end(c, id, reason, now))
                        .await?;
                }
                return Err(AppError::Unauthorized);
            }
        };
        // Anti-forgery: a state-changing request made with the cookie must come from our own
        // pages (Origin / Sec-Fetch-Site) and carry the session's token.
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            if cross_site(req.headers()) {
                return Err(AppError::Forbidden(
                    "refused: this request came from another site".into(),
                ));
            }
            let (r, token) = csrf_token(req).await?;
            req = r;
            if token.as_deref() != Some(live.csrf.expose()) {
                return Err(AppError::Forbidden(
                    "refused: the form is stale or forged; reload the page and try again".into(),
                ));
            }
        }
        // Activity keeps the session alive (written at most every 5 seconds); a page refreshing
        // itself is not activity.
        let background = is_background(
            req.uri().path_and_query().map_or("", |p| p.as_str()),
            req.headers(),
        );
        if !background && now - live.last_seen_at > chrono::Duration::seconds(5) {
            let id = live.session_id;
            state
                .store
                .write(move |c| sessions::touch(c, id, now))
                .await?;
        }
        let must_change = live.must_change_password;
        let principal = Principal::User {
            id: live.user_id,
            name: live.name,
            role: live.role,
        };
        if must_change && !matches!(path, Some("/account/password" | "/logout")) {
            return Err(AppError::Forbidden(
                "change your one-time password first: open /account/password".into(),
            ));
        }
        (
            principal,
            Some(SessionRef {
                id: live.session_id,
                csrf: live.csrf,
            }),
        )
    } else {
        return Err(AppError::Unauthorized);
    };
    let caller = Caller {
        principal: principal.clone(),
        remote,
        session,
    };
    Ok((req, principal, caller))
}

/// The wall display whose cookie the request carries, if it is not revoked. Its use is noted
/// (at most once a minute) for the admin page's "last seen".
async fn display(
    state: &AppState,
    secret: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Principal, AppError> {
    let found = state
        .store
        .read(move |c| displays::by_secret(c, &secret))
        .await?
        .ok_or(AppError::Unauthorized)?;
    let stale = found
        .last_seen_at
        .as_deref()
        .and_then(crate::clock::parse_stamp)
        .is_none_or(|seen| now - seen > chrono::Duration::minutes(1));
    if stale {
        let id = found.id;
        state
            .store
            .write(move |c| displays::touch(c, id, now))
            .await?;
    }
    Ok(Principal::Display {
        id: found.id,
        label: found.label,
        location: found.location,
    })
}

/// Does the caller's access still hold? A live page's stream asks while it is open, so that a
/// session that ended (signed out, idle, expired, the user disabled) or a display revoked
/// closes its stream. A session found idle or expired is ended on the server, as at the gate.
/// A bearer token's caller holds for the stream's life (its token was checked when it began).
pub async fn still_holds(state: &AppState, caller: &Caller) -> Result<bool, AppError> {
    if let Principal::Display { id, .. } = &caller.principal {
        let id = *id;
        return Ok(state.store.read(move |c| displays::is_live(c, id)).await?);
    }
    let Some(session) = &caller.session else {
        return Ok(true);
    };
    let (id, settings, now) = (session.id, state.sessions, state.store.clock().now());
    let held = state
        .store
        .read(move |c| sessions::holds(c, id, now, settings.idle, settings.lifetime))
        .await?;
    match held {
        Ok(()) => Ok(true),
        Err(ended) => {
            if let Some((id, reason)) = ended.to_end() {
                state
                    .store
                    .write(move |c| sessions::end(c, id, reason, now))
                    .await?;
            }
            Ok(false)
        }
    }
}

/// The anti-forgery token of a request: the `x-csrf-token` header (scripts), else the `csrf`
/// field of a URL-encoded form (the body is read and put back).
async fn csrf_token(req: Request) -> Result<(Request, Option<String>), AppError> {
    if let Some(t) = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        let t = t.to_owned();
        return Ok((req, Some(t)));
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .map_err(|_| AppError::TooLarge("the form is larger than 1 MB".into()))?;
    let token = form_urlencoded_field(&bytes, "csrf");
    Ok((
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        token,
    ))
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Security headers on every response (OWASP ASVS 14.4).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let page = is_page(req.uri().path());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if page && !h.contains_key(header::CACHE_CONTROL) {
        // Pages show patient data: never keep them in a shared or back-button cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_checks() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("chartrack.local:8080"),
        );
        assert!(!cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://chartrack.local:8080"),
        );
        assert!(!cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(cross_site(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(cross_site(&h), "an opaque origin with no fetch metadata");
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!cross_site(&h), "a browser's own form under no-referrer");
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h));
    }

    #[test]
    fn cookies_are_found_by_name_only() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; chartrack_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "chartrack_session"), Some("abc"));
        assert_eq!(cookie(&h, "session"), None);
    }

    #[test]
    fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
        use crate::config::TrustedProxy;
        let trusted: Vec<TrustedProxy> = ["127.0.0.1", "10.1.0.0/16"]
            .into_iter()
            .map(|s| TrustedProxy::try_from(s.to_owned()).unwrap())
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.9, 203.0.113.5, 10.1.2.3"),
        );
        // From a stranger, the header is ignored.
        assert_eq!(
            client_address(ip("192.0.2.1"), &h, &trusted),
            ip("192.0.2.1")
        );
        // From the proxy: the nearest address that is not a proxy (the client could have
        // written 198.51.100.9 itself).
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &trusted),
            ip("203.0.113.5")
        );
        // No trusted proxies configured: the peer, whatever the header says.
        assert_eq!(client_address(ip("127.0.0.1"), &h, &[]), ip("127.0.0.1"));
        // A garbled header from the proxy: the proxy itself.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("not-an-address"),
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    #[should_panic(expected = "GET /x is registered twice")]
    fn a_route_cannot_be_registered_twice() {
        let _ = Routes::new()
            .get("/x", Public, || async { "a" })
            .merge(Routes::new().get("/x", Any, || async { "b" }));
    }

    #[test]
    fn head_is_judged_as_get_and_unknown_routes_have_no_policy() {
        let (_, table) = Routes::new()
            .get("/x", Public, || async { "a" })
            .into_parts();
        assert_eq!(table.policy_for(&Method::HEAD, "/x"), Some(Public));
        assert_eq!(table.policy_for(&Method::POST, "/x"), None);
        assert_eq!(table.policy_for(&Method::GET, "/y"), None);
    }
}
