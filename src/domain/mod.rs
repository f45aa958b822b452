//! The words of the product as types: barcodes, MRNs, location codes, terminal-digit order,
//! check characters, scan-line normalisation and the small enums (roles, modes, statuses).
//! Everything here is pure; invalid values cannot be constructed.

mod checkchar;
mod ids;
mod line;
mod terminal;

pub use checkchar::{check_char, issue_barcode, verify_check_char};
pub use ids::{Barcode, LocationCode, Mrn, ParseError};
pub use line::{normalise_line, LineRefusal, MAX_LINE_BYTES};
pub use terminal::TerminalDigit;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a string-backed enum with `as_str`, `FromStr`, `Display` and serde in its wire spelling.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }
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
    /// What a user may do; enforced in `api::auth`.
    Role { Clerk = "clerk", Nurse = "nurse", Supervisor = "supervisor", Admin = "admin" }
);
wire_enum!(
    /// What a station does with the next volume scanned.
    Mode { CheckOut = "check-out", CheckIn = "check-in", Receive = "receive", Transfer = "transfer", File = "file", Inventory = "inventory" }
);
wire_enum!(
    /// Where a volume stands (PRODUCT.md "Status of a volume").
    Status { OnShelf = "on_shelf", InTransit = "in_transit", AtLocation = "at_location", Missing = "missing" }
);
wire_enum!(
    /// The kinds of location a chart can be at.
    LocationKind { Shelf = "shelf", Unit = "unit", Clinic = "clinic", Office = "office", Offsite = "offsite", Person = "person", Container = "container" }
);
wire_enum!(
    /// What a movement did to a volume.
    MoveAction { CheckOut = "check-out", CheckIn = "check-in", Receive = "receive", Transfer = "transfer", Pack = "pack", Inventory = "inventory" }
);
wire_enum!(
    /// Reserved command barcodes.
    Command {
        CheckOut = "CMD-CHECKOUT", CheckIn = "CMD-CHECKIN", Receive = "CMD-RECEIVE", File = "CMD-FILE",
        Inventory = "CMD-INVENTORY", Done = "CMD-DONE", NotFound = "CMD-NOTFOUND", Cancel = "CMD-CANCEL",
    }
);

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
            _ => None,
        }
    }
}
