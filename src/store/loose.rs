//! Loose reports waiting to be filed: oldest first, with their age and where their patient's
//! volumes are. Registered in `store::admin`, received, routed and filed by scans.

use super::audit::Audited;
use super::scan::LocBrief;
use super::Result;
use crate::clock::parse_stamp;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VolumeAt {
    pub barcode: String,
    #[schema(value_type = crate::domain::Status)]
    pub status: String,
    pub location: LocBrief,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaitingReport {
    pub barcode: String,
    pub description: String,
    pub mrn: String,
    pub last_name: String,
    pub first_name: String,
    #[schema(format = DateTime)]
    pub registered_at: String,
    /// The receive scan that started its clock (none yet: counted from registration).
    #[schema(format = DateTime)]
    pub received_at: Option<String>,
    /// Hours since the clock started.
    pub age_hours: i64,
    /// The floor it was sent to, when its volume was out.
    pub routed_to: Option<LocBrief>,
    pub volumes: Vec<VolumeAt>,
    pub restricted: bool,
}

impl WaitingReport {
    /// For someone who may not see a restricted chart's whereabouts.
    pub fn hide_whereabouts(&mut self) {
        self.routed_to = self
            .routed_to
            .as_ref()
            .map(|_| super::query::restricted_place());
        for v in &mut self.volumes {
            v.location = super::query::restricted_place();
        }
    }
}

/// Loose reports not yet filed, oldest first.
pub fn waiting(c: &Audited, now: DateTime<Utc>, limit: u32) -> Result<Vec<WaitingReport>> {
    let mut st = c.prepare_cached(
        "SELECT r.report_id, r.barcode, r.description, p.mrn, p.last_name, p.first_name, r.created_at, r.received_at,
                l.code, l.name, p.patient_id, p.restricted
         FROM loose_report r JOIN patient p ON p.patient_id = r.patient_id
         LEFT JOIN location l ON l.location_id = r.routed_to
         WHERE r.filed_at IS NULL ORDER BY coalesce(r.received_at, r.created_at), r.report_id LIMIT ?",
    )?;
    let rows = st.query_map([limit], |r| {
        let registered_at: String = r.get(6)?;
        let received_at: Option<String> = r.get(7)?;
        let started = received_at.as_deref().unwrap_or(&registered_at);
        let age_hours = parse_stamp(started)
            .map(|t| (now - t).num_hours())
            .unwrap_or(0);
        Ok((
            r.get::<_, i64>(10)?,
            WaitingReport {
                barcode: r.get(1)?,
                description: r.get(2)?,
                mrn: r.get(3)?,
                last_name: r.get(4)?,
                first_name: r.get(5)?,
                registered_at,
                received_at,
                age_hours,
                routed_to: match r.get::<_, Option<String>>(8)? {
                    Some(code) => Some(LocBrief {
                        code,
                        name: r.get(9)?,
                    }),
                    None => None,
                },
                volumes: Vec::new(),
                restricted: r.get(11)?,
            },
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (patient, mut w) = row?;
        let mut st = c.prepare_cached(
            "SELECT v.barcode, s.status, l.code, l.name FROM volume v
             JOIN volume_state s ON s.volume_id = v.volume_id
             JOIN location l ON l.location_id = CASE WHEN s.status = 'in_transit' THEN coalesce(s.destination_id, s.location_id) ELSE s.location_id END
             WHERE v.patient_id = ? ORDER BY v.volume_no, v.volume_id",
        )?;
        w.volumes = st
            .query_map([patient], |r| {
                Ok(VolumeAt {
                    barcode: r.get(0)?,
                    status: r.get(1)?,
                    location: LocBrief {
                        code: r.get(2)?,
                        name: r.get(3)?,
                    },
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        out.push(w);
    }
    Ok(out)
}
