//! Who may drive a station: the roles allowed, and the home units whose staff are allowed.
//! Both empty: anyone signed in. Otherwise a user passes by role or by home unit.

use super::{LocationCode, ParseError, Role};
use std::str::FromStr;

/// The roles and home units allowed to use a station (empty lists: anyone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StationAccess {
    pub roles: Vec<Role>,
    pub locations: Vec<LocationCode>,
}

impl StationAccess {
    pub fn is_open(&self) -> bool {
        self.roles.is_empty() && self.locations.is_empty()
    }

    /// Why this user may not use the station, or `None` when they may. `home` is the code of
    /// the user's home unit, when they have one.
    pub fn refusal(&self, station: &str, role: Role, home: Option<&str>) -> Option<String> {
        if self.is_open()
            || self.roles.contains(&role)
            || home.is_some_and(|h| self.locations.iter().any(|l| l.as_str() == h))
        {
            return None;
        }
        let you = match home {
            Some(h) if !self.locations.is_empty() => format!("you are a {role} of {h}"),
            None if !self.locations.is_empty() => format!("you are a {role} with no home unit"),
            _ => format!("you are signed in as a {role}"),
        };
        Some(format!(
            "Only {} may use station {station} ({you})",
            self.who()
        ))
    }

    /// Who may use it, in words: "clerk, supervisor or staff of 4W"; "anyone" when open.
    pub fn who(&self) -> String {
        let roles = self
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let units = self
            .locations
            .iter()
            .map(LocationCode::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        match (roles.is_empty(), units.is_empty()) {
            (true, true) => "anyone".into(),
            (false, true) => roles,
            (true, false) => format!("staff of {units}"),
            (false, false) => format!("{roles} or staff of {units}"),
        }
    }

    /// The roles as stored: comma-separated wire names.
    pub fn roles_text(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The home units as stored: comma-separated codes.
    pub fn locations_text(&self) -> String {
        self.locations
            .iter()
            .map(LocationCode::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Read the stored form back (see `roles_text`, `locations_text`).
    pub fn from_texts(roles: &str, locations: &str) -> Result<Self, ParseError> {
        let items = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        Ok(StationAccess {
            roles: items(roles)
                .iter()
                .map(|r| Role::from_str(r))
                .collect::<Result<_, _>>()?,
            locations: items(locations)
                .iter()
                .map(|l| LocationCode::parse(l))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(roles: &[Role], units: &[&str]) -> StationAccess {
        StationAccess {
            roles: roles.to_vec(),
            locations: units
                .iter()
                .map(|u| LocationCode::parse(u).unwrap())
                .collect(),
        }
    }

    #[test]
    fn an_open_station_takes_anyone() {
        let a = StationAccess::default();
        for r in Role::ALL {
            assert_eq!(a.refusal("S", *r, None), None);
        }
        assert_eq!(a.who(), "anyone");
    }

    #[test]
    fn roles_only_refuse_the_others_with_the_reason() {
        let a = access(&[Role::Clerk, Role::Supervisor], &[]);
        assert_eq!(a.refusal("FR-DESK", Role::Clerk, None), None);
        assert_eq!(
            a.refusal("FR-DESK", Role::Nurse, Some("4W")).as_deref(),
            Some("Only clerk, supervisor may use station FR-DESK (you are signed in as a nurse)")
        );
        assert!(a.refusal("FR-DESK", Role::Admin, None).is_some());
    }

    #[test]
    fn home_units_let_their_staff_in_by_home_and_others_by_role() {
        let a = access(&[Role::Supervisor], &["4W"]);
        assert_eq!(a.refusal("4W-1", Role::Nurse, Some("4W")), None);
        assert_eq!(a.refusal("4W-1", Role::Supervisor, None), None);
        assert_eq!(
            a.refusal("4W-1", Role::Nurse, Some("5E")).as_deref(),
            Some("Only supervisor or staff of 4W may use station 4W-1 (you are a nurse of 5E)")
        );
        assert_eq!(
            access(&[], &["4W"])
                .refusal("4W-1", Role::Clerk, None)
                .as_deref(),
            Some("Only staff of 4W may use station 4W-1 (you are a clerk with no home unit)")
        );
    }

    #[test]
    fn the_stored_form_reads_back_and_bad_entries_are_refused() {
        let a = access(&[Role::Clerk, Role::Supervisor], &["4W", "5E"]);
        let back = StationAccess::from_texts(&a.roles_text(), &a.locations_text()).unwrap();
        assert_eq!(back, a);
        assert_eq!(
            StationAccess::from_texts("", "").unwrap(),
            StationAccess::default()
        );
        assert!(StationAccess::from_texts("janitor", "").is_err());
        assert!(StationAccess::from_texts("", "4 w").is_err());
    }
}
