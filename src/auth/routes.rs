//! The route table: every route registered together with its [`Policy`], so no route lacks one
//! and no path is written twice; [`PolicyTable`] is what `check` looks a matched route up in.

use crate::domain::Role;
use crate::service::AppState;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;

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
    /// A wall display, by its own cookie, and no one else. A display's cookie opens nothing
    /// but these routes (its page, its list, its stream); a session or a token opens none of
    /// them.
    Display,
}

/// One route of the table: method, path (axum's pattern) and who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub policy: Policy,
}

/// A router whose every route was registered with its policy. `api` and `web` each build one;
/// the server merges them and hands the table to [`check`].
pub struct Routes {
    router: Router<AppState>,
    rules: Vec<Rule>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            rules: Vec::new(),
        }
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        policy: Policy,
        handler: H,
    ) -> Routes {
        self.with("GET", path, policy, axum::routing::get(handler))
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        policy: Policy,
        handler: H,
    ) -> Routes {
        self.with("POST", path, policy, axum::routing::post(handler))
    }

    /// A route whose method router is built by the caller (to add a layer of its own, such as
    /// a larger body limit). `method` is the one method `router` answers.
    pub fn with(
        mut self,
        method: &'static str,
        path: &'static str,
        policy: Policy,
        router: MethodRouter<AppState>,
    ) -> Routes {
        let rule = Rule {
            method,
            path,
            policy,
        };
        assert!(
            !self
                .rules
                .iter()
                .any(|r| r.method == method && r.path == path),
            "{method} {path} is registered twice"
        );
        self.rules.push(rule);
        self.router = self.router.route(path, router);
        self
    }

    pub fn merge(mut self, other: Routes) -> Routes {
        for r in &other.rules {
            assert!(
                !self
                    .rules
                    .iter()
                    .any(|m| m.method == r.method && m.path == r.path),
                "{} {} is registered twice",
                r.method,
                r.path
            );
        }
        self.rules.extend(other.rules);
        self.router = self.router.merge(other.router);
        self
    }

    /// Every route with its policy (tests walk it; OpenAPI is checked against it).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The router, and the table [`check`] consults.
    pub fn into_parts(self) -> (Router<AppState>, PolicyTable) {
        let table = self
            .rules
            .iter()
            .map(|r| ((r.method, r.path), r.policy))
            .collect();
        (self.router, PolicyTable(Arc::new(table)))
    }
}

/// The policies by method and matched path.
#[derive(Debug, Clone)]
pub struct PolicyTable(Arc<HashMap<(&'static str, &'static str), Policy>>);

impl PolicyTable {
    pub fn policy_for(&self, method: &Method, path: &str) -> Option<Policy> {
        let method = if method == Method::HEAD {
            "GET"
        } else {
            method.as_str()
        };
        self.0.get(&(method, path)).copied()
    }
}
