//! Who may call what, in one place, for the API and the pages alike. Every route is classified
//! in [`POLICY`]; the middleware looks the matched route up, finds the caller (a bearer token,
//! or a signed-in session's cookie), checks anti-forgery on state-changing requests made with a
//! cookie, and checks the role. A route missing from the table is refused (fail closed), and a
//! test walks the router.

pub mod login;

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::domain::Role;
use crate::store::admin::token_digest;
use crate::store::query::{self, Principal};
use crate::store::sessions;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No credentials needed (health, API description, sign-in page, style sheet and script).
    Public,
    /// Any valid token: a user's or a station's.
    Any,
    /// A station (only as itself) or any signed-in user.
    Scan,
    /// A user whose role is at least this one (nurse < clerk < supervisor < admin).
    User(Role),
}

use Policy::{Any, Public, Scan, User};
use Role::{Admin, Clerk, Nurse, Supervisor};

/// Every route the server has, with its policy.
pub const POLICY: &[(&str, &str, Policy)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/api/v1/openapi.json", Public),
    ("GET", "/metrics", Any),
    ("POST", "/api/v1/scans", Scan),
    ("GET", "/api/v1/volumes/{barcode}", User(Nurse)),
    ("GET", "/api/v1/volumes/{barcode}/movements", User(Nurse)),
    ("POST", "/api/v1/volumes", User(Admin)),
    ("GET", "/api/v1/search", User(Nurse)),
    ("GET", "/api/v1/locations", User(Nurse)),
    ("POST", "/api/v1/locations", User(Admin)),
    ("GET", "/api/v1/locations/{code}", User(Nurse)),
    ("GET", "/api/v1/stations", Any),
    ("POST", "/api/v1/stations", User(Admin)),
    ("GET", "/api/v1/exceptions", User(Supervisor)),
    ("POST", "/api/v1/reports", User(Clerk)),
    ("GET", "/api/v1/reports", User(Clerk)),
    ("POST", "/api/v1/requests", User(Nurse)),
    ("GET", "/api/v1/requests", User(Nurse)),
    ("GET", "/api/v1/requests/{id}", User(Nurse)),
    ("POST", "/api/v1/requests/{id}/cancel", User(Nurse)),
    ("GET", "/api/v1/pull-list", User(Clerk)),
    (
        "POST",
        "/api/v1/volumes/{barcode}/missing",
        User(Supervisor),
    ),
    ("GET", "/api/v1/missing", User(Supervisor)),
    ("POST", "/api/v1/missing/{id}/acknowledge", User(Supervisor)),
    ("GET", "/api/v1/stocktakes", User(Clerk)),
    ("POST", "/api/v1/stocktakes", User(Clerk)),
    ("GET", "/api/v1/stocktakes/{id}", User(Clerk)),
    ("POST", "/api/v1/stocktakes/{id}/close", User(Clerk)),
    // Pages.
    ("GET", "/login", Public),
    ("POST", "/login", Public),
    ("GET", "/static/{file}", Public),
    ("POST", "/logout", User(Nurse)),
    ("GET", "/account/password", User(Nurse)),
    ("POST", "/account/password", User(Nurse)),
    ("GET", "/", User(Nurse)),
    ("GET", "/events", User(Nurse)),
    ("GET", "/volumes/{barcode}", User(Nurse)),
    ("GET", "/locations", User(Nurse)),
    ("GET", "/locations/{code}", User(Nurse)),
    ("GET", "/scan", User(Nurse)),
    ("GET", "/wall/{code}", User(Nurse)),
    ("GET", "/requests", User(Nurse)),
    ("POST", "/requests", User(Nurse)),
    ("GET", "/requests/{id}", User(Nurse)),
    ("POST", "/requests/{id}/cancel", User(Nurse)),
    ("GET", "/events/requests", User(Nurse)),
    ("GET", "/pull-list", User(Clerk)),
    ("GET", "/loose-reports", User(Clerk)),
    ("POST", "/loose-reports", User(Clerk)),
    ("GET", "/stocktakes", User(Clerk)),
    ("POST", "/stocktakes", User(Clerk)),
    ("GET", "/stocktakes/{id}", User(Clerk)),
    ("POST", "/stocktakes/{id}/close", User(Clerk)),
    ("GET", "/missing", User(Supervisor)),
    ("POST", "/missing", User(Supervisor)),
    ("POST", "/missing/{id}/acknowledge", User(Supervisor)),
    ("GET", "/reports", User(Supervisor)),
    ("GET", "/reports/{name}", User(Supervisor)),
    ("GET", "/stations", User(Clerk)),
    ("GET", "/stations/sheet/{profile}", User(Clerk)),
    ("GET", "/exceptions", User(Supervisor)),
    ("POST", "/exceptions/{id}/resolve", User(Supervisor)),
    ("GET", "/access-log", User(Supervisor)),
    ("GET", "/admin", User(Admin)),
    ("POST", "/admin/users", User(Admin)),
    ("POST", "/admin/users/{name}", User(Admin)),
    ("POST", "/admin/locations", User(Admin)),
    ("POST", "/admin/stations", User(Admin)),
    ("POST", "/admin/import", User(Admin)),
];

pub fn policy_for(method: &Method, path: &str) -> Option<Policy> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    POLICY
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, pol)| *pol)
}

/// Pages answer in HTML (a sign-in redirect, an error page); everything else in JSON.
pub fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/metrics" || path == "/healthz")
}

/// Session settings (`chartrack.toml`: `session_idle_minutes`, `secure_cookies`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A session unused this long is ended on the server (HIPAA automatic logoff).
    pub idle: chrono::Duration,
    /// No session outlives this, however busy.
    pub lifetime: chrono::Duration,
    /// Served over TLS (directly or behind a proxy): cookies are `Secure` and `__Host-`.
    pub secure_cookies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            idle: chrono::Duration::minutes(15),
            lifetime: chrono::Duration::hours(12),
            secure_cookies: false,
        }
    }
}

impl Settings {
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-chartrack"
        } else {
            "chartrack_session"
        }
    }

    /// The Set-Cookie value for a session secret (or its removal, with `None`).
    pub fn cookie(&self, secret: Option<&str>) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let v = match secret {
            Some(s) => format!(
                "{}={s}; Path=/; HttpOnly; SameSite=Strict{secure}",
                self.cookie_name()
            ),
            None => format!(
                "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
                self.cookie_name()
            ),
        };
        HeaderValue::from_str(&v).expect("cookie is ASCII")
    }
}

/// Who is calling, from where, and (for a browser) their session.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub remote: String,
    pub session: Option<SessionRef>,
}

#[derive(Debug, Clone)]
pub struct SessionRef {
    pub id: i64,
    /// The anti-forgery token every form and script request of this session carries.
    pub csrf: String,
}

impl Caller {
    pub fn role(&self) -> Option<Role> {
        match &self.principal {
            Principal::User { role, .. } => Some(*role),
            Principal::Station { .. } => None,
        }
    }
    /// May see where a restricted chart is (stations never need to).
    pub fn sees_restricted(&self) -> bool {
        self.role().is_some_and(Role::sees_restricted)
    }
    /// The signed-in user's id (none for a station).
    pub fn user_id(&self) -> Option<i64> {
        match &self.principal {
            Principal::User { id, .. } => Some(*id),
            Principal::Station { .. } => None,
        }
    }
    pub fn name(&self) -> &str {
        match &self.principal {
            Principal::User { name, .. } => name,
            Principal::Station { id } => id,
        }
    }
    /// What the access log records of this caller.
    pub fn access(
        &self,
        action: &'static str,
        subject: impl Into<String>,
    ) -> crate::store::audit::Access {
        crate::store::audit::Access {
            user_id: self.user_id(),
            actor: match &self.principal {
                Principal::User { name, .. } => name.clone(),
                Principal::Station { id } => format!("station:{id}"),
            },
            action,
            subject: subject.into(),
            remote: self.remote.clone(),
        }
    }
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map(|s| s.csrf.as_str()).unwrap_or("")
    }
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

/// A refusal, in the caller's language: JSON for the API, HTML (or a sign-in redirect) for pages.
struct Refusal {
    page: bool,
    error: ApiError,
    path: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        if !self.page {
            return self.error.into_response();
        }
        match self.error {
            ApiError::Unauthorized => {
                let next = url_escape(&self.path);
                Redirect::to(&format!("/login?next={next}")).into_response()
            }
            // Every other refusal as the pages show their own errors (503 included).
            other => crate::web::PageError::from(other).into_response(),
        }
    }
}

/// Percent-encode everything but unreserved characters and '/'.
pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn remote_of(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into())
}

pub async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let page = path.as_deref().map(is_page).unwrap_or(false);
    let full_path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    match check(&state, path.as_deref(), req).await {
        Ok((req, _)) => next.run(req).await,
        Err(error) => Refusal {
            page,
            error,
            path: full_path,
        }
        .into_response(),
    }
}

/// The whole decision; on success the request carries its [`Caller`] and [`Principal`].
async fn check(
    state: &AppState,
    path: Option<&str>,
    mut req: Request,
) -> Result<(Request, Policy), ApiError> {
    let policy = path
        .and_then(|p| policy_for(req.method(), p))
        .ok_or_else(|| ApiError::Forbidden("this route is not classified for access".into()))?;
    if policy == Public {
        return Ok((req, policy));
    }
    let remote = remote_of(&req);
    let settings = state.auth;
    let now = state.store.clock().now();
    let (principal, session) = if let Some(token) = bearer(req.headers()) {
        let digest = token_digest(token);
        let p = state
            .store
            .read(move |c| query::principal_by_digest(c, &digest))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        (p, None)
    } else if let Some(secret) = cookie(req.headers(), settings.cookie_name()) {
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
                return Err(ApiError::Unauthorized);
            }
        };
        // Anti-forgery: a state-changing request made with the cookie must come from our own
        // pages (Origin / Sec-Fetch-Site) and carry the session's token.
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            if cross_site(req.headers()) {
                return Err(ApiError::Forbidden(
                    "refused: this request came from another site".into(),
                ));
            }
            let (r, token) = csrf_token(req).await?;
            req = r;
            if token.as_deref() != Some(live.csrf.as_str()) {
                return Err(ApiError::Forbidden(
                    "refused: the form is stale or forged; reload the page and try again".into(),
                ));
            }
        }
        // Activity keeps the session alive (written at most every 5 seconds).
        if now - live.last_seen_at > chrono::Duration::seconds(5) {
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
            return Err(ApiError::Forbidden(
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
        return Err(ApiError::Unauthorized);
    };
    let allowed = match (policy, &principal) {
        (Public | Any | Scan, _) => true,
        (User(min), Principal::User { role, .. }) => role.at_least(min),
        (User(_), Principal::Station { .. }) => false,
    };
    if !allowed {
        return Err(ApiError::Forbidden("your role may not do this".into()));
    }
    req.extensions_mut().insert(principal.clone());
    req.extensions_mut().insert(Caller {
        principal,
        remote,
        session,
    });
    Ok((req, policy))
}

/// The anti-forgery token of a request: the `x-csrf-token` header (scripts), else the `csrf`
/// field of a URL-encoded form (the body is read and put back).
async fn csrf_token(req: Request) -> Result<(Request, Option<String>), ApiError> {
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
        .map_err(|_| ApiError::BadRequest("the form is larger than 1 MB".into()))?;
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
    fn every_page_route_is_classified_once() {
        let mut seen = std::collections::HashSet::new();
        for (m, p, _) in POLICY {
            assert!(seen.insert((m, p)), "{m} {p} is listed twice");
        }
    }
}
