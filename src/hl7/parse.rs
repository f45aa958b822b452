//! Reading a message with `hl7-parser`: the separators come from MSH-1/MSH-2, values are
//! unescaped (`\F\`, `\S\`, `\T\`, `\R\`, `\E\`), repetitions are searched (PID-3's MR
//! identifier), and segments may end with CR, LF or CRLF. What chartrack acts on becomes a
//! [`store::hl7::Change`]; a message that cannot be read, or of a type chartrack does not
//! take, is a [`Problem`] answered `AR`.

use crate::store::hl7::{Booking, Change, PatientFacts};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use hl7_parser::message::{Field, Segment, Separators};
use hl7_parser::Message;

/// The header fields an acknowledgement needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// MSH-3, MSH-4 (decoded, first component).
    pub app: String,
    pub facility: String,
    /// MSH-5, MSH-6: who it was sent to (chartrack answers as them).
    pub to_app: String,
    pub to_facility: String,
    /// MSH-9.1, MSH-9.2.
    pub message_type: String,
    pub event: String,
    /// MSH-10.
    pub control_id: String,
    /// MSH-12.
    pub version: String,
}

impl Header {
    /// MSH-3^MSH-4: the sender a control id belongs to.
    pub fn sender(&self) -> String {
        format!("{}^{}", self.app, self.facility)
    }
    /// `ADT^A01`.
    pub fn kind(&self) -> String {
        if self.message_type.is_empty() {
            String::new()
        } else {
            format!("{}^{}", self.message_type, self.event)
        }
    }
}

/// A message chartrack does not take (answered `AR`), with what could be read of its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub header: Box<Header>,
    /// HL7 table 0357: 100 segment sequence, 101 required field missing, 102 data type,
    /// 200 unsupported message type, 201 unsupported event code, 207 application error.
    pub code: u16,
    pub reason: String,
}

/// A message read: its header and what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub header: Header,
    pub change: Change,
}

/// Read one message (the text of one frame). `tz` is the zone of times without an offset.
pub fn read(text: &str, tz: chrono_tz::Tz) -> Result<Read, Problem> {
    let text = text.trim_end_matches(['\r', '\n']);
    let text = text.trim_start_matches(['\r', '\n']);
    let problem = |header: Header, code: u16, reason: String| Problem {
        header: Box::new(header),
        code,
        reason,
    };
    if !text.starts_with("MSH") {
        return Err(problem(
            Header::default(),
            100,
            "the message does not start with an MSH segment".into(),
        ));
    }
    let message = Message::parse_with_lenient_newlines(text, true).map_err(|e| {
        problem(
            loose_header(text),
            100,
            format!("the message cannot be read: {e}"),
        )
    })?;
    let sep = &message.separators;
    let msh = message.segment("MSH").expect("parsed from MSH");
    let header = Header {
        app: comp(sep, msh, 3, 1),
        facility: comp(sep, msh, 4, 1),
        to_app: comp(sep, msh, 5, 1),
        to_facility: comp(sep, msh, 6, 1),
        message_type: comp(sep, msh, 9, 1),
        event: comp(sep, msh, 9, 2),
        control_id: comp(sep, msh, 10, 1),
        version: comp(sep, msh, 12, 1),
    };
    let mut header = header;
    if header.event.is_empty() {
        if let Some(evn) = message.segment("EVN") {
            header.event = comp(sep, evn, 1, 1);
        }
    }
    if header.control_id.is_empty() {
        return Err(problem(
            header,
            101,
            "MSH-10 (message control id) is missing".into(),
        ));
    }
    let change = change(&message, &header, tz).map_err(|(code, reason)| Problem {
        header: Box::new(header.clone()),
        code,
        reason,
    })?;
    Ok(Read { header, change })
}

type Fail = (u16, String);

fn change(m: &Message, h: &Header, tz: chrono_tz::Tz) -> Result<Change, Fail> {
    let sep = &m.separators;
    match (h.message_type.as_str(), h.event.as_str()) {
        ("ADT", "A01" | "A04" | "A08") => {
            let patient = patient(m)?;
            let unit = if h.event == "A01" {
                m.segment("PV1")
                    .map(|pv1| comp(sep, pv1, 3, 1))
                    .filter(|u| !u.is_empty())
            } else {
                None
            };
            Ok(Change::Patient { patient, unit })
        }
        ("ADT", "A02") => {
            let mrn = mrn(m, "PID", 3)?;
            let unit = m
                .segment("PV1")
                .map(|pv1| comp(sep, pv1, 3, 1))
                .filter(|u| !u.is_empty())
                .ok_or((
                    101,
                    "PV1-3 (the unit the patient moved to) is missing".into(),
                ))?;
            Ok(Change::Transfer { mrn, unit })
        }
        ("ADT", "A03") => {
            let mrn = mrn(m, "PID", 3)?;
            let unit = m
                .segment("PV1")
                .map(|pv1| comp(sep, pv1, 3, 1))
                .filter(|u| !u.is_empty());
            Ok(Change::Discharge { mrn, unit })
        }
        ("ADT", "A40") => {
            let surviving = patient(m)?;
            let retired = mrn(m, "MRG", 1)?;
            Ok(Change::Merge { surviving, retired })
        }
        ("SIU", "S12" | "S14" | "S15" | "S17") => {
            let booking = match h.event.as_str() {
                "S12" => Booking::New,
                "S14" => Booking::Moved,
                _ => Booking::Cancelled,
            };
            let sch = m
                .segment("SCH")
                .ok_or((100, "the SCH segment is missing".to_string()))?;
            let id = Some(comp(sep, sch, 2, 1))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| comp(sep, sch, 1, 1));
            if id.is_empty() {
                return Err((101, "SCH-2 / SCH-1 (the appointment id) is missing".into()));
            }
            let mrn = mrn(m, "PID", 3)?;
            let clinic = m
                .segment("AIL")
                .map(|ail| comp(sep, ail, 3, 1))
                .filter(|c| !c.is_empty());
            let start = [("AIS", 4, 1), ("AIL", 6, 1), ("SCH", 11, 4)]
                .into_iter()
                .filter_map(|(s, f, c)| m.segment(s).map(|seg| comp(sep, seg, f, c)))
                .find(|v| !v.is_empty());
            let start = match start {
                Some(t) => Some(timestamp(&t, tz).ok_or((
                    102,
                    format!("the appointment's start '{t}' is not an HL7 time (YYYYMMDDHHMM)"),
                ))?),
                None => None,
            };
            Ok(Change::Appointment {
                booking,
                id,
                mrn,
                clinic,
                start,
            })
        }
        ("ADT" | "SIU", _) => Err((
            201,
            format!("chartrack does not take {} messages", h.kind()),
        )),
        _ => Err((
            200,
            format!(
                "chartrack does not take {} messages (ADT and SIU only)",
                if h.message_type.is_empty() {
                    "untyped".to_string()
                } else {
                    h.kind()
                }
            ),
        )),
    }
}

/// One component of a field, unescaped (empty when absent).
fn comp(sep: &Separators, seg: &Segment, field: usize, component: usize) -> String {
    seg.field(field)
        .and_then(|f| f.component(component))
        .map(|c| decode(sep, c.raw_value()))
        .unwrap_or_default()
}

/// Undo the escape sequences (`\F\ \S\ \T\ \R\ \E\`, `\X0D\`, `\.br\`; others are
/// dropped, an unterminated one kept as it is). Not hl7-parser's `Separators::decode`: in
/// 0.3.0 it slices by character count as if it were a byte offset, so a name with a non-ASCII
/// letter before an escape is decoded wrongly, and a non-ASCII letter inside one panics.
pub fn decode(sep: &Separators, value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(sep.escape) {
        out.push_str(&rest[..start]);
        let after = &rest[start + sep.escape.len_utf8()..];
        let Some(end) = after.find(sep.escape) else {
            out.push_str(&rest[start..]);
            return out;
        };
        match &after[..end] {
            "F" => out.push(sep.field),
            "S" => out.push(sep.component),
            "T" => out.push(sep.subcomponent),
            "R" => out.push(sep.repetition),
            "E" => out.push(sep.escape),
            "X0D" | "X0d" | ".br" => out.push(' '),
            "X0A" | "X0a" => out.push(' '),
            // Formatting (\H\, \N\) and other sequences carry nothing chartrack keeps.
            _ => {}
        }
        rest = &after[end + sep.escape.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// The MR identifier of a CX field (PID-3, MRG-1): the repetition whose type (component 5) is
/// `MR`, or the only identifier when none says its type.
fn mr(sep: &Separators, field: &Field) -> Option<String> {
    let repeats: Vec<_> = field.repeats().collect();
    let typed = |r: &&hl7_parser::message::Repeat| {
        r.component(5)
            .map(|c| decode(sep, c.raw_value()))
            .unwrap_or_default()
    };
    let pick = repeats
        .iter()
        .find(|r| typed(r).eq_ignore_ascii_case("MR"))
        .or_else(|| {
            (repeats.iter().all(|r| typed(r).is_empty()))
                .then(|| repeats.first())
                .flatten()
        })?;
    let id = pick
        .component(1)
        .map(|c| decode(sep, c.raw_value()))
        .unwrap_or_default();
    (!id.trim().is_empty()).then(|| id.trim().to_owned())
}

fn mrn(m: &Message, segment: &str, field: usize) -> Result<String, Fail> {
    let seg = m
        .segment(segment)
        .ok_or((100, format!("the {segment} segment is missing")))?;
    seg.field(field).and_then(|f| mr(&m.separators, f)).ok_or((
        101,
        format!("{segment}-{field} has no medical record number (identifier type MR)"),
    ))
}

fn patient(m: &Message) -> Result<PatientFacts, Fail> {
    let sep = &m.separators;
    let mrn = mrn(m, "PID", 3)?;
    let pid = m.segment("PID").expect("found by mrn");
    let birth = comp(sep, pid, 7, 1);
    let birth_date = if birth.is_empty() {
        None
    } else {
        Some(
            date(&birth)
                .ok_or((102, format!("PID-7 '{birth}' is not a date (YYYYMMDD)")))?
                .format("%Y-%m-%d")
                .to_string(),
        )
    };
    Ok(PatientFacts {
        mrn,
        last_name: comp(sep, pid, 5, 1),
        first_name: comp(sep, pid, 5, 2),
        birth_date,
    })
}

fn date(s: &str) -> Option<NaiveDate> {
    let d = s.get(..8)?;
    NaiveDate::parse_from_str(d, "%Y%m%d").ok()
}

/// An HL7 time `YYYYMMDDHHMM[SS[.S]][+/-ZZZZ]`; without an offset, in `tz`.
pub fn timestamp(s: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let (body, offset) = match s.find(['+', '-']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let body = body.split('.').next()?;
    if body.len() < 8 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = body.to_owned();
    while digits.len() < 14 {
        digits.push('0');
    }
    let naive = NaiveDateTime::parse_from_str(digits.get(..14)?, "%Y%m%d%H%M%S").ok()?;
    match offset {
        Some(o) if o.len() == 5 && o.is_ascii() => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let h: i32 = o[1..3].parse().ok()?;
            let m: i32 = o[3..5].parse().ok()?;
            let fixed = chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))?;
            fixed
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.with_timezone(&Utc))
        }
        Some(_) => None,
        None => Some(crate::clock::from_local(naive, tz).at),
    }
}

/// The header of a message hl7-parser could not read, split by hand as far as it goes (for
/// the acknowledgement's MSA-2 and the sender).
fn loose_header(text: &str) -> Header {
    let first = text.split(['\r', '\n']).next().unwrap_or("");
    let Some(fs) = first.chars().nth(3) else {
        return Header::default();
    };
    let cs = first.chars().nth(4).unwrap_or('^');
    let fields: Vec<&str> = first.split(fs).collect();
    // fields[0] = "MSH", fields[1] = encoding characters, so MSH-n is fields[n - 1].
    let get = |n: usize, c: usize| -> String {
        fields
            .get(n - 1)
            .and_then(|f| f.split(cs).nth(c - 1))
            .unwrap_or("")
            .chars()
            .take(64)
            .collect()
    };
    Header {
        app: get(3, 1),
        facility: get(4, 1),
        to_app: get(5, 1),
        to_facility: get(6, 1),
        message_type: get(9, 1),
        event: get(9, 2),
        control_id: get(10, 1),
        version: get(12, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTC: chrono_tz::Tz = chrono_tz::UTC;

    #[test]
    fn separators_escapes_repetitions_and_line_ends() {
        let a01 = "MSH#$%*@#ADM#GEN#CT#HIM#20260302080000##ADT$A01#C1#P#2.5\r\nPID#1##X9$$$HOSP$PI%000123$$$HOSP$MR##O*T*Brien$Ann##19700102\nPV1#1#I#5E$12$1";
        let r = read(a01, UTC).unwrap();
        assert_eq!(r.header.sender(), "ADM^GEN");
        assert_eq!(r.header.control_id, "C1");
        assert_eq!(
            r.change,
            Change::Patient {
                patient: PatientFacts {
                    mrn: "000123".into(),
                    last_name: "O@Brien".into(),
                    first_name: "Ann".into(),
                    birth_date: Some("1970-01-02".into()),
                },
                unit: Some("5E".into()),
            }
        );
        let escaped =
            "MSH|^~\\&|A|B|C|D|1||ADT^A08|C2|P|2.5\rPID|1||77^^^H^MR||SMITH\\T\\JONES^JO\\S\\E";
        match read(escaped, UTC).unwrap().change {
            Change::Patient { patient, .. } => {
                assert_eq!(patient.last_name, "SMITH&JONES");
                assert_eq!(patient.first_name, "JO^E");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escapes_after_and_inside_non_ascii_letters() {
        let sep = Separators::default();
        assert_eq!(decode(&sep, "Müller\\S\\Zoë\\T\\x"), "Müller^Zoë&x");
        assert_eq!(decode(&sep, "#\\é\\4\\"), "#4\\");
        assert_eq!(decode(&sep, "a\\E\\b\\H\\c\\.br\\d"), "a\\bc d");
        let m = "MSH|^~\\&|A|B|C|D|1||ADT^A08|C9|P|2.5\rPID|1||77^^^H^MR||Ödön\\T\\Brontë^José";
        match read(m, UTC).unwrap().change {
            Change::Patient { patient, .. } => {
                assert_eq!(
                    (patient.last_name.as_str(), patient.first_name.as_str()),
                    ("Ödön&Brontë", "José")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_cannot_be_taken_is_a_problem() {
        assert_eq!(read("garbage", UTC).unwrap_err().code, 100);
        let p = read("MSH|^~\\&|A|B|C|D|1||ORU^R01|C3|P|2.5\rOBR|1", UTC).unwrap_err();
        assert_eq!((p.code, p.header.control_id.as_str()), (200, "C3"));
        let p = read(
            "MSH|^~\\&|A|B|C|D|1||ADT^A01|C4|P|2.5\rPID|1||^^^H^MR||X",
            UTC,
        )
        .unwrap_err();
        assert_eq!(p.code, 101, "{p:?}");
    }

    #[test]
    fn times_with_and_without_offsets() {
        let t = timestamp("202603031000-0500", UTC).unwrap();
        assert_eq!(crate::clock::stamp(t), "2026-03-03T15:00:00.000Z");
        let t = timestamp("20260303100000", chrono_tz::America::Chicago).unwrap();
        assert_eq!(crate::clock::stamp(t), "2026-03-03T16:00:00.000Z");
        assert!(timestamp("2026", UTC).is_none());
        assert!(timestamp("20260303+1é2", UTC).is_none());
        assert!(timestamp("20260303é", UTC).is_none());
    }
}
