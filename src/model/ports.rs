//! Port lists as users type them (`80,443,8000-8100`), parsed strictly so a
//! typo is reported instead of silently matching nothing.

use std::fmt;

use crate::target::{parse_port, PortError, PortZero};

/// The forms a port list takes, said after every mistake in one.
pub const ACCEPTED_FORMS: &str =
    "accepted: a port (80), a range with both ends (8000-8100), or a comma-separated list of them \
     (80,443,8000-8100)";

/// A bad port or port list, naming the offending part. Each message ends
/// with the forms a list takes ([`ACCEPTED_FORMS`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortListError {
    #[error("empty port list; {ACCEPTED_FORMS}")]
    Empty,
    #[error("{0}; {ACCEPTED_FORMS}")]
    EmptyItem(#[from] EmptyItem),
    #[error("{0}; {ACCEPTED_FORMS}")]
    Port(#[from] PortError),
    #[error("port range {start}-{end} is reversed (start is greater than end): write {end}-{start}; {ACCEPTED_FORMS}")]
    Reversed { start: u16, end: u16 },
    /// `5-` or `-5`: a range needs both ends (an open end would silently
    /// mean 0 or 65535, which the user may not have meant).
    #[error(
        "range '{text}' lacks its {missing}: write both ends ({suggestion}); {ACCEPTED_FORMS}"
    )]
    OpenRange { text: String, missing: &'static str, suggestion: String },
}

/// An empty item in a comma-separated list (`1,,2`, `1,`, `,1`): a stray
/// comma, or a value lost on the way (`--port $A,$B` with `B` unset).
/// Skipping it would answer for fewer items than the user meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("empty item {place} in '{text}' (a stray comma, or a missing value)")]
pub struct EmptyItem {
    /// Where it is, named by its neighbours: `after '1'`, `before '2'`,
    /// `between '1' and '2'`.
    pub place: String,
    /// The whole list as typed.
    pub text: String,
}

/// The items of a comma-separated list, trimmed. A list with no item at all
/// gives an empty vector (each caller names what it lacks); an empty item
/// beside others is an [`EmptyItem`].
pub fn list_items(text: &str) -> Result<Vec<&str>, EmptyItem> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.iter().all(|item| item.is_empty()) {
        return Ok(Vec::new());
    }
    if let Some(index) = items.iter().position(|item| item.is_empty()) {
        let before = items[..index].iter().rev().find(|item| !item.is_empty());
        let after = items[index + 1..].iter().find(|item| !item.is_empty());
        let place = match (before, after) {
            (Some(before), Some(after)) => format!("between '{before}' and '{after}'"),
            (Some(before), None) => format!("after '{before}'"),
            (None, Some(after)) => format!("before '{after}'"),
            (None, None) => unreachable!("some item is not empty (checked above)"),
        };
        return Err(EmptyItem { place, text: text.to_string() });
    }
    Ok(items)
}

/// A set of ports as inclusive ranges, sorted and merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    /// A set holding one port.
    pub fn single(port: u16) -> Self {
        PortSet { ranges: vec![(port, port)] }
    }

    /// A set holding one inclusive range.
    pub fn range(start: u16, end: u16) -> Self {
        PortSet { ranges: vec![(start.min(end), start.max(end))] }
    }

    /// Parses `80,443,8000-8100` (spaces around items are allowed), port 0
    /// included: for lists the kernel or porthole itself wrote. A list a
    /// user types goes through [`PortSet::parse_for`].
    pub fn parse(text: &str) -> Result<Self, PortListError> {
        Self::parse_for(text, PortZero::Allowed)
    }

    /// Parses a list as [`PortSet::parse`] does, with port 0 accepted or
    /// refused as `zero` says, so each option's messages name the range it
    /// really accepts. The port options refuse it: `free` never hands out
    /// 0, and no socket the kernel lists has local port 0 (a bind picks a
    /// port; one bound with `IP_BIND_ADDRESS_NO_PORT` is not listed), so 0
    /// could only be a mistake.
    pub fn parse_for(text: &str, zero: PortZero) -> Result<Self, PortListError> {
        let min = match zero {
            PortZero::Allowed => 0,
            PortZero::Refused => 1,
        };
        let mut ranges = Vec::new();
        for item in list_items(text)? {
            let range = match item.split_once('-') {
                // `-` alone is no range at all.
                Some((start, end)) if start.trim().is_empty() && end.trim().is_empty() => {
                    return Err(PortError::NotANumber { text: item.to_string(), min }.into());
                }
                Some((start, end)) if start.trim().is_empty() || end.trim().is_empty() => {
                    let (missing, suggestion) = if start.trim().is_empty() {
                        ("start", format!("{min}-{}", end.trim()))
                    } else {
                        ("end", format!("{}-65535", start.trim()))
                    };
                    return Err(PortListError::OpenRange {
                        text: item.to_string(),
                        missing,
                        suggestion,
                    });
                }
                Some((start, end)) => {
                    let start = parse_port(start.trim(), zero)?;
                    let end = parse_port(end.trim(), zero)?;
                    if start > end {
                        return Err(PortListError::Reversed { start, end });
                    }
                    (start, end)
                }
                None => {
                    let port = parse_port(item, zero)?;
                    (port, port)
                }
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err(PortListError::Empty);
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(start) <= u32::from(last.1) + 1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        Ok(PortSet { ranges: merged })
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(start, end)| start <= port && port <= end)
    }

    /// The single port, when the set holds exactly one.
    pub fn as_single(&self) -> Option<u16> {
        match self.ranges.as_slice() {
            [(start, end)] if start == end => Some(*start),
            _ => None,
        }
    }

    /// The inclusive ranges, ascending and non-overlapping.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// The set without the ports `low`-`high` (possibly empty).
    pub fn without(&self, low: u16, high: u16) -> Self {
        let mut ranges = Vec::with_capacity(self.ranges.len() + 1);
        for &(start, end) in &self.ranges {
            if end < low || start > high {
                ranges.push((start, end));
                continue;
            }
            if start < low {
                ranges.push((start, low - 1));
            }
            if end > high {
                ranges.push((high + 1, end));
            }
        }
        PortSet { ranges }
    }

    /// Number of ports in the set.
    pub fn len(&self) -> usize {
        self.ranges.iter().map(|&(s, e)| usize::from(e - s) + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Iterates every port in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.ranges.iter().flat_map(|&(start, end)| start..=end)
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, &(start, end)) in self.ranges.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_merges_lists() {
        let set = PortSet::parse("443, 80,8000-8100,8050-8200,81").unwrap();
        assert_eq!(set.ranges(), &[(80, 81), (443, 443), (8000, 8200)]);
        assert!(set.contains(8150));
        assert!(!set.contains(82));
        assert_eq!(set.to_string(), "80-81,443,8000-8200");
        assert_eq!(set.len(), 2 + 1 + 201);
        assert_eq!(PortSet::parse("5432").unwrap().as_single(), Some(5432));
        let without = |set: &str, low, high| PortSet::parse(set).unwrap().without(low, high);
        assert_eq!(without("10-20,30-40", 15, 35).to_string(), "10-14,36-40");
        assert_eq!(without("10-20", 10, 20).to_string(), "");
        assert!(without("10-20", 0, 65535).is_empty());
        assert_eq!(without("10-20,65535", 0, 9).to_string(), "10-20,65535");
    }

    #[test]
    fn rejects_bad_lists_naming_the_part() {
        let not_a_number = |text: &str| {
            Err(PortListError::Port(PortError::NotANumber { text: text.into(), min: 0 }))
        };
        assert_eq!(PortSet::parse("abc"), not_a_number("abc"));
        assert_eq!(PortSet::parse("9-1"), Err(PortListError::Reversed { start: 9, end: 1 }));
        assert_eq!(
            PortSet::parse("70000"),
            Err(PortListError::Port(PortError::OutOfRange { value: 70000, min: 0 }))
        );
        assert_eq!(PortSet::parse(" , "), Err(PortListError::Empty));
        assert_eq!(PortSet::parse(""), Err(PortListError::Empty));
        let empty_item = |text: &str| PortSet::parse(text).unwrap_err().to_string();
        assert!(
            empty_item("1,,2").starts_with("empty item between '1' and '2' in '1,,2'"),
            "{}",
            empty_item("1,,2")
        );
        assert!(empty_item("80,").starts_with("empty item after '80' in '80,'"));
        assert!(empty_item(",80").starts_with("empty item before '80' in ',80'"));
        assert!(empty_item("80, ,443").starts_with("empty item between '80' and '443'"));
        assert!(empty_item("80,,").starts_with("empty item after '80'"));
        assert_eq!(
            PortSet::parse("-5"),
            Err(PortListError::OpenRange {
                text: "-5".into(),
                missing: "start",
                suggestion: "0-5".into()
            })
        );
        let open = PortSet::parse("5-").unwrap_err().to_string();
        assert!(
            open.starts_with(
                "range '5-' lacks its end: write both ends (5-65535); accepted: a port (80)"
            ),
            "{open}"
        );
        assert_eq!(PortSet::parse("-"), not_a_number("-"));
        let reversed = PortSet::parse("5-3").unwrap_err().to_string();
        assert!(reversed.contains("write 3-5; accepted:"), "{reversed}");
        let wide = PortSet::parse("70000").unwrap_err().to_string();
        assert!(wide.starts_with("port 70000 is out of range (0-65535); accepted:"), "{wide}");
        assert_eq!(PortSet::parse("+80"), not_a_number("+80"));
        assert_eq!(PortSet::parse("0").unwrap().as_single(), Some(0));
    }

    #[test]
    fn a_list_that_refuses_port_0_says_so_in_every_message() {
        let refused = |text: &str| PortSet::parse_for(text, PortZero::Refused).unwrap_err();
        assert_eq!(refused("0"), PortListError::Port(PortError::OutOfRange { value: 0, min: 1 }));
        assert!(refused("0-10").to_string().starts_with("port 0 is out of range (1-65535)"));
        assert!(refused("70000").to_string().starts_with("port 70000 is out of range (1-65535)"));
        assert!(refused("x").to_string().contains("(expected 1-65535)"));
        assert!(refused("-").to_string().contains("(expected 1-65535)"));
        assert!(refused("-5").to_string().contains("write both ends (1-5)"));
        assert_eq!(PortSet::parse_for("1,65535", PortZero::Refused).unwrap().len(), 2);
    }
}
