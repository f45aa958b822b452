//! The words of the product as types: barcodes, MRNs, location codes, terminal-digit order,
//! check characters, scan-line normalisation and the small enums (roles, modes, statuses).
//! Everything here is pure; invalid values cannot be constructed.

mod access;
mod checkchar;
mod ids;
mod line;
mod secret;
mod terminal;

pub use access::StationAccess;
pub use checkchar::{check_char, issue_barcode, verify_check_char};
pub use ids::{Barcode, LocationCode, Mrn, ParseError};
pub use line::{normalise_line, LineRefusal, MAX_LINE_BYTES};
pub use secret::Secret;
pub use terminal::TerminalDigit;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a string-backed enum with `as_str`, `FromStr`, `Display`, serde in its wire spelling,
/// and its OpenAPI schema: a string that is one of the wire spellings, described by the doc comment.
macro_rules! wire_enum {
    ($(#[doc = $doc:literal])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let doc: &[&str] = &[$($doc),*];
                let doc = doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .description(Some(doc))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
        }
        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s { $($text => Ok($name::$variant),)+
                    _ => Err(ParseError::new(format!(
                        concat!("unknown ", stringify!($name), " '{}' (expected one of: {})"),
                        s, [$($text),+].join(", ")))) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

wire_enum!(
    /// What a user may do; enforced in `auth`.
    Role { Clerk = "clerk", Nurse = "nurse", Supervisor = "supervisor", Admin = "admin" }
);
wire_enum!(
    /// What a station does with the next volume scanned.
    Mode { CheckOut = "check-out", CheckIn = "check-in", Receive = "receive", Transfer = "transfer", File = "file", Inventory = "inventory" }
);
wire_enum!(
    /// Where a volume stands: on its home shelf, in transit toward a destination, last scanned
    /// somewhere other than home, or marked missing.
    Status { OnShelf = "on_shelf", InTransit = "in_transit", AtLocation = "at_location", Missing = "missing" }
);
wire_enum!(
    /// The kinds of location a chart can be at. A `desk` is a work area (the file room's check-in
    /// desk): charts pass through it and are shelved at their home section.
    LocationKind { Shelf = "shelf", Desk = "desk", Unit = "unit", Clinic = "clinic", Office = "office", Offsite = "offsite", Person = "person", Container = "container" }
);
wire_enum!(
    /// What a movement did to a volume.
    MoveAction { CheckOut = "check-out", CheckIn = "check-in", Receive = "receive", Transfer = "transfer", Pack = "pack", Inventory = "inventory", Found = "found" }
);
wire_enum!(
    /// Reserved command barcodes.
    Command {
        CheckOut = "CMD-CHECKOUT", CheckIn = "CMD-CHECKIN", Receive = "CMD-RECEIVE", File = "CMD-FILE",
        Inventory = "CMD-INVENTORY", Done = "CMD-DONE", NotFound = "CMD-NOTFOUND", Cancel = "CMD-CANCEL",
    }
);

wire_enum!(
    /// How urgently a requested volume is needed.
    Priority { Stat = "stat", Routine = "routine" }
);
wire_enum!(
    /// Where a request stands: open → pulled (in transit) → delivered; or cancelled, or not found.
    RequestStatus { Open = "open", Pulled = "pulled", Delivered = "delivered", Cancelled = "cancelled", NotFound = "not_found" }
);
wire_enum!(
    /// Why a request ended without delivery (cancelled or not found).
    EndReason {
        EntryMistake = "entry_mistake", ClinicCancelled = "clinic_cancelled", PatientDischarged = "patient_discharged",
        NoLongerNeeded = "no_longer_needed", NotOnShelf = "not_on_shelf", NotAtHolder = "not_at_holder", Other = "other",
    }
);
wire_enum!(
    /// Why a supervisor marked a volume missing.
    MissingReason {
        NotOnShelf = "not_on_shelf", NotReturned = "not_returned", NotAtLocation = "not_at_location",
        NotSeenInStocktake = "not_seen_in_stocktake", RequestNotFound = "request_not_found", Other = "other",
    }
);

impl Priority {
    pub fn label(self) -> &'static str {
        match self {
            Priority::Stat => "STAT",
            Priority::Routine => "routine",
        }
    }
}

impl RequestStatus {
    /// Still to be delivered: the volume is being looked for or is on its way.
    pub fn is_active(self) -> bool {
        matches!(self, RequestStatus::Open | RequestStatus::Pulled)
    }
    pub fn label(self) -> &'static str {
        match self {
            RequestStatus::Open => "requested",
            RequestStatus::Pulled => "pulled, in transit",
            RequestStatus::Delivered => "delivered",
            RequestStatus::Cancelled => "cancelled",
            RequestStatus::NotFound => "not found",
        }
    }
}

impl EndReason {
    pub fn label(self) -> &'static str {
        match self {
            EndReason::EntryMistake => "entry mistake",
            EndReason::ClinicCancelled => "clinic cancelled",
            EndReason::PatientDischarged => "patient discharged",
            EndReason::NoLongerNeeded => "no longer needed",
            EndReason::NotOnShelf => "not found on shelf",
            EndReason::NotAtHolder => "not found where it was recorded",
            EndReason::Other => "other (see note)",
        }
    }
}

impl MissingReason {
    pub fn label(self) -> &'static str {
        match self {
            MissingReason::NotOnShelf => "not found on shelf",
            MissingReason::NotReturned => "not returned by borrower",
            MissingReason::NotAtLocation => "not found where it was recorded",
            MissingReason::NotSeenInStocktake => "not seen in stocktake",
            MissingReason::RequestNotFound => "requested and not found",
            MissingReason::Other => "other (see note)",
        }
    }
}

impl Role {
    /// May see where a restricted chart (VIP, behavioural health) is: HIM supervisors and admins.
    pub fn sees_restricted(self) -> bool {
        self.at_least(Role::Supervisor)
    }
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }
    fn rank(self) -> u8 {
        match self {
            Role::Nurse => 0,
            Role::Clerk => 1,
            Role::Supervisor => 2,
            Role::Admin => 3,
        }
    }
}

impl Command {
    /// The mode a mode-switch command selects, if it is one.
    pub fn mode(self) -> Option<Mode> {
        match self {
            Command::CheckOut => Some(Mode::CheckOut),
            Command::CheckIn => Some(Mode::CheckIn),
            Command::Receive => Some(Mode::Receive),
            Command::File => Some(Mode::File),
            Command::Inventory => Some(Mode::Inventory),
            Command::Done | Command::NotFound | Command::Cancel => None,
        }
    }
}
