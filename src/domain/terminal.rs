//! Terminal-digit filing order.
//!
//! An MRN is read in pairs from the right: the last two digits (primary) pick the shelf
//! section, the middle two (secondary) the place within it, the rest (tertiary) the order
//! within that. MRNs shorter than six digits are left-padded with zeros, as file rooms do.
//! Example: 45-67-89 files in section 89, then 67, then 45.

use super::Mrn;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TerminalDigit {
    pub primary: u8,
    pub secondary: u8,
    pub tertiary: u64,
}

impl TerminalDigit {
    pub fn of(mrn: &Mrn) -> Self {
        let digits = mrn.as_str();
        let padded = format!("{digits:0>6}");
        let n = padded.len();
        let primary = padded[n - 2..].parse().expect("digits");
        let secondary = padded[n - 4..n - 2].parse().expect("digits");
        let tertiary = padded[..n - 4].parse().expect("digits");
        TerminalDigit {
            primary,
            secondary,
            tertiary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td(s: &str) -> TerminalDigit {
        TerminalDigit::of(&Mrn::parse(s).unwrap())
    }

    #[test]
    fn worked_examples() {
        assert_eq!(
            td("456789"),
            TerminalDigit {
                primary: 89,
                secondary: 67,
                tertiary: 45
            }
        );
        // Short MRNs are padded: 1234 is 00-12-34.
        assert_eq!(
            td("1234"),
            TerminalDigit {
                primary: 34,
                secondary: 12,
                tertiary: 0
            }
        );
        // Long MRNs keep everything left of the last four digits as the tertiary part.
        assert_eq!(
            td("12345678"),
            TerminalDigit {
                primary: 78,
                secondary: 56,
                tertiary: 1234
            }
        );
    }

    #[test]
    fn filing_order_is_by_last_then_middle_then_first_pair() {
        // Textbook sequence: these are in terminal-digit order.
        let ordered = ["019924", "029924", "010025", "020025", "990025", "000126"];
        let keys: Vec<_> = ordered.iter().map(|m| td(m)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        // And straight numeric order is not terminal-digit order.
        assert!(td("654321") < td("123456"));
        assert!(td("100001") < td("000002"));
    }
}
