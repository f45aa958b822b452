//! The simulation: lives begun each day, denser as the years pass; each step of a life one scan,
//! decided by the engine and written as the scan path writes it; the end state written once.

use super::*;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// The share of check-outs that fill a request (about one request per 50 movements).
const REQUESTED: f64 = 0.08;

impl World {
    /// Scan until `budget` scans are written or the history is complete (then `false`).
    pub(super) fn run(&mut self, c: &Connection, budget: u64) -> Result<bool> {
        let stop = self.done.scans + budget;
        let end = millis(self.now);
        while self.done.scans < stop {
            let next_day = millis(self.start) + self.day * DAY;
            match self.events.peek() {
                Some(Reverse((t, _, _)))
                    if *t < next_day || (self.day >= self.days && *t <= end) =>
                {
                    let Reverse((t, v, step)) = self.events.pop().expect("peeked");
                    self.step(c, t, v as usize, step)?;
                }
                _ if self.day < self.days => self.begin_day(),
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// The lives that begin today: a volume on its shelf is checked out in working hours.
    fn begin_day(&mut self) {
        let w = (self.growth * self.day as f64).exp();
        let expect = self.lives_left * w / self.weight_left.max(w);
        let mut lives = expect.floor() as u64;
        if self.rng.chance(expect - expect.floor()) {
            lives += 1;
        }
        self.lives_left = (self.lives_left - lives as f64).max(0.0);
        self.weight_left -= w;
        let day_start = millis(self.start) + self.day * DAY;
        for _ in 0..lives {
            let Some(v) = (0..20)
                .map(|_| self.rng.below(self.vols.len() as u64) as usize)
                .find(|&v| !self.vols[v].busy)
            else {
                continue;
            };
            let t = day_start + 7 * HOUR + self.rng.below((12 * HOUR) as u64) as i64;
            let vol = &mut self.vols[v];
            vol.busy = true;
            vol.onward = None;
            vol.shelve = self.rng.chance(0.6);
            self.events.push(Reverse((t, v as u32, Step::CheckOut)));
        }
        self.day += 1;
    }

    fn floor(&mut self) -> usize {
        self.floors[self.rng.below(self.floors.len() as u64) as usize]
    }

    /// How long a chart stays at a unit or clinic (ms): mostly a day or two, some for weeks.
    fn stay(&mut self) -> i64 {
        let mean = if self.rng.chance(self.long_share) {
            self.long_stay
        } else {
            self.short_stay
        };
        (self.rng.exp(mean) * DAY as f64) as i64 + 10 * MINUTE
    }

    /// One step of a volume's life: its scan, and the next step planned.
    fn step(&mut self, c: &Connection, t: i64, v: usize, step: Step) -> Result<()> {
        let vol = self.vols[v].clone();
        let here = vol.location as usize;
        let (station, target, next) = match step {
            Step::CheckOut => {
                let dest = self.floor();
                if self.rng.chance(0.2) {
                    let onward = if self.rng.chance(0.05) {
                        self.offsite
                    } else {
                        self.floor()
                    };
                    self.vols[v].onward = (onward != dest).then_some(onward as u16);
                }
                // Now and then a check-out scanned before its destination: refused.
                if self.rng.chance(0.08) {
                    let s = self.places[here].check_out;
                    self.scan(c, t, s, Some(v), None)?;
                }
                if self.rng.chance(0.001) {
                    let s = self.places[here].check_out;
                    self.scan(c, t, s, None, None)?;
                }
                if self.rng.chance(REQUESTED) {
                    self.request(c, t, v, dest)?;
                }
                let delay = 10 * MINUTE + self.rng.below((80 * MINUTE) as u64) as i64;
                (
                    self.places[here].check_out,
                    Some(dest),
                    Some((t + delay, Step::Receive)),
                )
            }
            Step::Receive | Step::ReceiveOnward => {
                let dest = vol.destination.ok_or_else(|| {
                    StoreError::Internal("a receive of a volume not in transit".into())
                })? as usize;
                let next = match (step, vol.onward) {
                    (Step::Receive, Some(_)) => Step::SendOnward,
                    _ => Step::CheckIn,
                };
                (
                    self.places[dest].receive,
                    None,
                    Some((t + self.stay(), next)),
                )
            }
            Step::SendOnward => {
                let onward = vol.onward.expect("planned") as usize;
                let delay = 15 * MINUTE + self.rng.below((105 * MINUTE) as u64) as i64;
                (
                    self.places[here].check_out,
                    Some(onward),
                    Some((t + delay, Step::ReceiveOnward)),
                )
            }
            Step::CheckIn => {
                let next = vol.shelve.then(|| {
                    (
                        t + HOUR + self.rng.below((7 * HOUR) as u64) as i64,
                        Step::Shelve,
                    )
                });
                (self.places[self.desk].receive, None, next)
            }
            Step::Shelve => (self.places[vol.home as usize].receive, None, None),
        };
        self.scan(c, t, station, Some(v), target)?;
        match next {
            Some((when, step)) => self.events.push(Reverse((when, v as u32, step))),
            None => self.vols[v].busy = false,
        }
        Ok(())
    }

    /// A request made by a nurse of `dest` for volume `v` before its check-out at `t`: most
    /// are left open for the check-out to pull; some are cancelled, or end not found at the
    /// file room (and the volume turns up for the check-out after all).
    fn request(&mut self, c: &Connection, t: i64, v: usize, dest: usize) -> Result<()> {
        let made = t - 5 * MINUTE - self.rng.below((4 * HOUR) as u64) as i64;
        let ended = made + (t - made) / 2;
        let priority = if self.rng.chance(0.1) {
            Priority::Stat
        } else {
            Priority::Routine
        };
        let nurse = self.nurses[self.rng.below(self.nurses.len() as u64) as usize].id;
        self.last_request += 1;
        let id = self.last_request;
        c.prepare_cached(
            "INSERT INTO request (request_id, barcode, volume_id, location_id, priority, needed_by, reason, status,
                                  holder_id, requested_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, 'open', NULL, ?6, ?7)",
        )?
        .execute(params![
            id,
            issue_barcode('Q', id as u64),
            v as i64 + 1,
            self.loc(dest).id,
            priority.as_str(),
            nurse,
            stamp(at(made)),
        ])?;
        self.done.past_requests += 1;
        let roll = self.rng.unit();
        if roll < 0.06 {
            let reason = [
                EndReason::NoLongerNeeded,
                EndReason::PatientDischarged,
                EndReason::EntryMistake,
            ][self.rng.below(3) as usize];
            requests::cancel(c, id, reason, None, Some(nurse), at(ended))?;
        } else if roll < 0.08 {
            let here = self.vols[v].location as usize;
            let s = self.places[here].check_out;
            let clerk = self.clerks[self.rng.below(self.clerks.len() as u64) as usize].id;
            let station = StationFacts {
                id: self.stations[s].id.clone(),
                location: self.loc(here).clone(),
                mode: Mode::CheckOut,
                memory: Memory::default(),
                stocktake: None,
            };
            advance_request(
                c,
                id,
                RequestStatus::NotFound,
                &stamp(at(ended)),
                Some(clerk),
                &station,
            )?;
        } else {
            self.vols[v].request = Some(OpenRequest {
                id,
                place: dest as u16,
                priority,
                pulled: false,
            });
        }
        Ok(())
    }

    fn loc(&self, place: usize) -> &LocRef {
        &self.places[place].loc
    }

    fn place_of(&self, location_id: i64) -> Result<u16> {
        self.places
            .iter()
            .position(|p| p.loc.id == location_id)
            .map(|i| i as u16)
            .ok_or_else(|| StoreError::Internal(format!("location {location_id} unknown")))
    }

    /// One scan at `station` of volume `v` (or of an unknown barcode when `None`), with
    /// `target` remembered as its destination; decided by the engine and written as the scan
    /// path writes it.
    fn scan(
        &mut self,
        c: &Connection,
        t: i64,
        station: usize,
        v: Option<usize>,
        target: Option<usize>,
    ) -> Result<()> {
        let now = at(t);
        let (here, mode) = (self.stations[station].location, self.stations[station].mode);
        let floor = matches!(
            self.places[here].loc.kind,
            LocationKind::Unit | LocationKind::Clinic
        );
        let who = if floor {
            let i = self.rng.below(self.nurses.len() as u64) as usize;
            self.nurses[i].clone()
        } else {
            let i = self.rng.below(self.clerks.len() as u64) as usize;
            self.clerks[i].clone()
        };
        let facts = StationFacts {
            id: self.stations[station].id.clone(),
            location: self.loc(here).clone(),
            mode,
            memory: Memory {
                target: target.map(|p| Remembered {
                    value: self.loc(p).clone(),
                    at: now,
                }),
                ..Default::default()
            },
            stocktake: None,
        };
        let (value, scanned) = match v {
            Some(v) => {
                let vol = &self.vols[v];
                let facts = VolumeFacts {
                    id: v as i64 + 1,
                    barcode: barcode(v),
                    patient_id: vol.patient as i64,
                    mrn: self.mrns[v].clone(),
                    home: self.loc(vol.home as usize).clone(),
                    status: vol.status,
                    location: self.loc(vol.location as usize).clone(),
                    destination: vol.destination.map(|d| self.loc(d as usize).clone()),
                    container: None,
                    waiting_reports: 0,
                    requests: vol
                        .request
                        .map(|r| RequestRef {
                            id: r.id,
                            barcode: issue_barcode('Q', r.id as u64),
                            volume_id: v as i64 + 1,
                            volume_barcode: barcode(v),
                            location: self.loc(r.place as usize).clone(),
                            priority: r.priority,
                            status: if r.pulled {
                                RequestStatus::Pulled
                            } else {
                                RequestStatus::Open
                            },
                        })
                        .into_iter()
                        .collect(),
                    restricted: self.restricted[v],
                };
                (facts.barcode.clone(), Scanned::Volume(facts))
            }
            None => {
                let value = format!("ZX{:06}", self.rng.below(1_000_000));
                (
                    value.clone(),
                    Scanned::Unknown {
                        value,
                        misread: false,
                    },
                )
            }
        };
        let d = engine::decide(&facts, &scanned, Some(&who), now, &self.settings);
        if d.accepted != target.is_some() && v.is_some() && mode == Mode::CheckOut {
            return Err(StoreError::Internal(format!(
                "the engine answered a generated check-out otherwise than planned: {}",
                d.message
            )));
        }
        let brief = |l: &LocRef| LocBrief {
            code: l.code.clone(),
            name: l.name.clone(),
        };
        let volume = match (&scanned, d.effects.first()) {
            (Scanned::Volume(f), Some(Effect::Move(m))) => Some(VolumeBrief {
                barcode: f.barcode.clone(),
                status: m.status,
                location: brief(self.loc(self.place_of(m.location)? as usize)),
                destination: match m.destination {
                    Some(id) => Some(brief(self.loc(self.place_of(id)? as usize))),
                    None => None,
                },
            }),
            (Scanned::Volume(f), _) => Some(VolumeBrief {
                barcode: f.barcode.clone(),
                status: f.status,
                location: brief(&f.location),
                destination: f.destination.as_ref().map(brief),
            }),
            _ => None,
        };
        self.seq += 1;
        let answer = ScanAnswer {
            scan_id: scan_id(now, self.seq),
            accepted: d.accepted,
            action: d.action.to_owned(),
            message: d.message.clone(),
            warnings: d.warnings.clone(),
            station: facts.id.clone(),
            mode: d.mode,
            at: now,
            moved: d
                .effects
                .iter()
                .filter(|e| matches!(e, Effect::Move(_)))
                .count(),
            volume,
            requests: vec![],
            restricted: matches!(&scanned, Scanned::Volume(f) if f.restricted),
            shelve_at: d.shelve_at.clone(),
        };
        let when = stamp(now);
        c.prepare_cached(
            "INSERT INTO scan (scan_id, station_id, user_id, value, received_at, scanned_at, accepted, action)
             VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7)",
        )?
        .execute(params![
            answer.scan_id,
            answer.station,
            who.id,
            value,
            when,
            answer.accepted,
            answer.action,
        ])?;
        let seq = c.last_insert_rowid();
        // The answer as the server keeps it: for the month a sender could resend the scan.
        if now >= self.now - crate::store::scan::ANSWER_KEPT {
            c.prepare_cached("INSERT INTO scan_answer (scan_seq, response) VALUES (?1, ?2)")?
                .execute(params![seq, serde_json::to_string(&answer)?])?;
        }
        self.done.scans += 1;
        if !d.accepted {
            self.done.refused += 1;
        }
        self.stations[station].last_scan = Some(now);
        for effect in &d.effects {
            match effect {
                Effect::Move(m) => {
                    c.prepare_cached(
                        "INSERT INTO movement (scan_seq, volume_id, action, from_id, to_id, at, station_id, user_id, receiver_id, request_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )?
                    .execute(params![seq, m.volume_id, m.action.as_str(), m.from, m.to, when, facts.id, m.user, m.receiver, m.request])?;
                    let id = c.last_insert_rowid();
                    self.done.movements += 1;
                    let location = self.place_of(m.location)?;
                    let destination = m.destination.map(|d| self.place_of(d)).transpose()?;
                    let vol = &mut self.vols[m.volume_id as usize - 1];
                    if vol.status != m.status || vol.location != location {
                        vol.since = now;
                    }
                    vol.status = m.status;
                    vol.location = location;
                    vol.destination = destination;
                    vol.last_movement = Some(id);
                    vol.last_scan_at = Some(when.clone());
                    vol.last_station = Some(station as u16);
                    vol.last_user = m.user.map(|u| u as u32);
                    vol.last_location = Some(here as u16);
                    // About one chart view in ten movements, in the access log.
                    if self.rng.chance(0.1) {
                        let i = self.rng.below(self.nurses.len() as u64) as usize;
                        let reader = &self.nurses[i];
                        let access = Access {
                            user_id: Some(reader.id),
                            actor: reader.name.clone(),
                            action: "view-volume",
                            subject: barcode(m.volume_id as usize - 1),
                            remote: format!(
                                "10.20.{}.{}",
                                1 + self.rng.below(200),
                                1 + self.rng.below(250)
                            ),
                        };
                        audit::append(c, &access, now)?;
                        self.done.access_entries += 1;
                    }
                }
                Effect::Request { request, status } => {
                    advance_request(c, request.id, *status, &when, Some(who.id), &facts)?;
                    let vol = &mut self.vols[request.volume_id as usize - 1];
                    vol.request = match (*status, vol.request) {
                        (RequestStatus::Pulled, Some(r)) => Some(OpenRequest { pulled: true, ..r }),
                        _ => None,
                    };
                }
                Effect::Exception { kind, value } => {
                    c.prepare_cached("INSERT INTO exception (scan_seq, kind, value, station_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
                        .execute(params![seq, kind, value, facts.id, when])?;
                    self.done.exceptions += 1;
                }
                other => {
                    return Err(StoreError::Internal(format!(
                        "the generator does not write this effect: {other:?}"
                    )))
                }
            }
        }
        if d.accepted && d.effects.is_empty() && v.is_some() {
            return Err(StoreError::Internal(format!(
                "a generated scan moved nothing: {}",
                d.message
            )));
        }
        Ok(())
    }

    /// Each volume's current state (in rowid order), the stations' last scans, and today's
    /// open requests.
    pub(super) fn finish(&mut self, c: &Connection) -> Result<()> {
        for (i, v) in self.vols.iter().enumerate() {
            let loc = |p: u16| self.places[p as usize].loc.id;
            c.prepare_cached(
                "INSERT INTO volume_state (volume_id, status, location_id, destination_id, since, last_movement_id,
                    last_scan_at, last_station_id, last_user_id, last_location_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                i as i64 + 1,
                v.status.as_str(),
                loc(v.location),
                v.destination.map(loc),
                stamp(v.since),
                v.last_movement,
                v.last_scan_at,
                v.last_station.map(|s| self.stations[s as usize].id.as_str()),
                v.last_user,
                v.last_location.map(loc),
            ])?;
        }
        self.done.out = self
            .vols
            .iter()
            .filter(|v| v.status != Status::OnShelf)
            .count() as u64;
        for s in &self.stations {
            if let Some(t) = s.last_scan {
                c.prepare_cached("UPDATE station SET last_scan_at = ?2 WHERE station_id = ?1")?
                    .execute(params![s.id, stamp(t)])?;
            }
        }
        // Today's requests: about one volume in 300 (at least 3, at most 5,000), one in ten STAT.
        let wanted = (self.vols.len() / 300).clamp(3, 5_000).min(self.vols.len());
        for _ in 0..wanted {
            let v = self.rng.below(self.vols.len() as u64) as usize;
            let to = self.floor();
            let r = NewRequest {
                barcode: barcode(v),
                location: self.places[to].loc.code.clone(),
                priority: if self.rng.chance(0.1) {
                    Priority::Stat
                } else {
                    Priority::Routine
                },
                needed_by: None,
                reason: None,
            };
            let i = self.rng.below(self.nurses.len() as u64) as usize;
            let nurse = self.nurses[i].id;
            if let requests::Created::New(_) = requests::create(c, &r, Some(nurse), self.now)? {
                self.done.requests += 1;
            }
        }
        Ok(())
    }
}
