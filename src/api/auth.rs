//! Who may call what, in one place. Every route is classified in [`POLICY`]; the middleware
//! looks the matched route up, authenticates the bearer token and checks the role. A route
//! missing from the table is refused (fail closed), and a test walks the table.

use super::error::ApiError;
use super::AppState;
use crate::domain::Role;
use crate::store::admin::token_digest;
use crate::store::query::{self, Principal};
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No credentials needed (health, API description).
    Public,
    /// Any valid token: a user's or a station's.
    Any,
    /// A station (only as itself) or any signed-in user.
    Scan,
    /// A user whose role is at least this one (nurse < clerk < supervisor < admin).
    User(Role),
}

/// Every route the server has, with its policy.
pub const POLICY: &[(&str, &str, Policy)] = &[
    ("GET", "/healthz", Policy::Public),
    ("GET", "/api/v1/openapi.json", Policy::Public),
    ("GET", "/metrics", Policy::Any),
    ("POST", "/api/v1/scans", Policy::Scan),
    (
        "GET",
        "/api/v1/volumes/{barcode}",
        Policy::User(Role::Nurse),
    ),
    (
        "GET",
        "/api/v1/volumes/{barcode}/movements",
        Policy::User(Role::Nurse),
    ),
    ("POST", "/api/v1/volumes", Policy::User(Role::Admin)),
    ("GET", "/api/v1/search", Policy::User(Role::Nurse)),
    ("GET", "/api/v1/locations", Policy::User(Role::Nurse)),
    ("POST", "/api/v1/locations", Policy::User(Role::Admin)),
    ("GET", "/api/v1/locations/{code}", Policy::User(Role::Nurse)),
    ("GET", "/api/v1/stations", Policy::Any),
    ("POST", "/api/v1/stations", Policy::User(Role::Admin)),
    ("GET", "/api/v1/exceptions", Policy::User(Role::Supervisor)),
    ("POST", "/api/v1/reports", Policy::User(Role::Clerk)),
];

pub fn policy_for(method: &Method, path: &str) -> Option<Policy> {
    POLICY
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, pol)| *pol)
}

fn bearer(req: &Request) -> Option<&str> {
    let h = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 200)
}

pub async fn authorize(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let policy = path
        .as_deref()
        .and_then(|p| policy_for(req.method(), p))
        .ok_or_else(|| ApiError::Forbidden("this route is not classified for access".into()))?;
    if policy == Policy::Public {
        return Ok(next.run(req).await);
    }
    let token = bearer(&req).ok_or(ApiError::Unauthorized)?;
    let digest = token_digest(token);
    let principal = state
        .store
        .read(move |c| query::principal_by_digest(c, &digest))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let allowed = match (policy, &principal) {
        (Policy::Public | Policy::Any | Policy::Scan, _) => true,
        (Policy::User(min), Principal::User { role, .. }) => role.at_least(min),
        (Policy::User(_), Principal::Station { .. }) => false,
    };
    if !allowed {
        return Err(ApiError::Forbidden("your role may not do this".into()));
    }
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}
