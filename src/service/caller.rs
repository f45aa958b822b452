//! Who is calling: a user (with a role) or a station, from which address, and for a browser
//! its session. `auth` finds the caller; every operation reads it to decide what the caller may
//! see (restricted charts) and what the access log records.

use crate::domain::{Role, Secret};
use crate::store::audit::Access;
use crate::store::query::Principal;

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
    pub csrf: Secret,
}

impl Caller {
    pub fn role(&self) -> Option<Role> {
        match &self.principal {
            Principal::User { role, .. } => Some(*role),
            Principal::Station { .. } | Principal::Display { .. } => None,
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
            Principal::Station { .. } | Principal::Display { .. } => None,
        }
    }
    pub fn name(&self) -> &str {
        match &self.principal {
            Principal::User { name, .. } => name,
            Principal::Station { id } => id,
            Principal::Display { label, .. } => label,
        }
    }
    /// What the access log records of this caller.
    pub fn access(&self, action: &'static str, subject: impl Into<String>) -> Access {
        Access {
            user_id: self.user_id(),
            actor: match &self.principal {
                Principal::User { name, .. } => name.clone(),
                Principal::Station { id } => format!("station:{id}"),
                Principal::Display { label, .. } => format!("display:{label}"),
            },
            action,
            subject: subject.into(),
            remote: self.remote.clone(),
        }
    }
    /// The session's anti-forgery token, for the pages' forms and scripts.
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map(|s| s.csrf.expose()).unwrap_or("")
    }
}
