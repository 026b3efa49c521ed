//! The one parser of durations typed by a person: on the command line
//! (`--timeout 30s`, `--latency 100ms`, `--keep 7d`) and in the alert rules
//! file (`for = "2m"`). It sits at the crate root, not in `cli`, so that
//! engines reading files people write can share it.
//!
//! # The rule
//! A duration is a decimal number and a unit: `us` (or `µs`), `ms`, `s`
//! (`sec`), `m` (`min`), `h`, `d` or `w`, e.g. `250us`, `500ms`, `1.5s`,
//! `2m`, `1h`, `7d`; or several such terms added up, as Go and systemd
//! write them: `2h30m`, `1m30s`, `1h 15m`. In a sum every term has its unit
//! (`1m30` is refused, naming `1m30s`), and each unit appears once, largest
//! first, so that a slip like `30s1m` is not silently read as 90 seconds.
//! Each flag bounds the value itself (`top --interval` wants at least 100ms,
//! `--keep` more than zero…).
//!
//! A number without a unit is read by [`BareNumber`]:
//! - [`BareNumber::Seconds`] for the flags that always took a bare number as
//!   seconds (`wait --timeout 30`, `free --hold 60`), so scripts keep working;
//! - [`BareNumber::Refused`] for the `porthole proxy` flags, which took a bare
//!   number as milliseconds while the rest of porthole took seconds: there,
//!   `--latency 100` is an error naming both readings. `0` means the same in
//!   every unit and is always accepted.
//!
//! Integers of milliseconds in the Toxiproxy API's JSON (`"latency": 100`)
//! are not durations typed by a person and are not parsed here.

use std::time::Duration;

/// How a number without a unit is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareNumber {
    /// As seconds: the flag has always been documented that way.
    Seconds,
    /// Not at all (except `0`): the flag once meant milliseconds.
    Refused,
}

/// Why a duration did not parse. The caller adds the flag and the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("expected a duration such as 500ms, 30s or 2m")]
    NotADuration,
    #[error("a number without a unit is ambiguous here: write {number}ms or {number}s")]
    MissingUnit { number: String },
    #[error("unknown unit \"{unit}\" (expected us, ms, s, m, h, d or w, e.g. 500ms or 30s)")]
    UnknownUnit { unit: String },
    #[error("longer than a hundred years")]
    TooLong,
    #[error("shorter than a microsecond (the smallest unit), yet not 0")]
    TooShort,
    #[error("every part of a sum needs a unit: write {suggestion}")]
    TermWithoutUnit { suggestion: String },
    #[error("the parts of a sum go from the largest unit to the smallest, each once (e.g. 2h30m or 1m30s)")]
    TermsOutOfOrder,
}

/// Longest duration accepted: a hundred years. Longer is a typo, and keeps
/// microsecond timestamps (`history --since`) far from overflow.
const MAX_SECONDS: f64 = 3.2e9;

/// Parses `text` by the rule in the module documentation.
pub fn parse_duration(text: &str, bare: BareNumber) -> Result<Duration, DurationError> {
    let text = text.trim();
    let terms = split_terms(text)?;
    let seconds = match terms.as_slice() {
        [] => return Err(DurationError::NotADuration),
        [(number, "")] => {
            let value = parse_number(number)?;
            if value == 0.0 {
                0.0
            } else {
                match bare {
                    BareNumber::Seconds => value,
                    BareNumber::Refused => {
                        return Err(DurationError::MissingUnit { number: number.to_string() })
                    }
                }
            }
        }
        [(number, unit)] => parse_number(number)? * seconds_per_unit(unit)?,
        terms => sum_of_terms(text, terms)?,
    };
    if !seconds.is_finite() || seconds > MAX_SECONDS {
        return Err(DurationError::TooLong);
    }
    // `0.0000000001s` came out as zero, which several flags read as "no
    // limit" (`wait --timeout 0` waits forever, the `timeout` toxic with 0
    // holds every connection): a number that is not zero never becomes it.
    if seconds > 0.0 && seconds < 1e-6 {
        return Err(DurationError::TooShort);
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Splits `2h 30m` into `[("2", "h"), ("30", "m")]`: each term is a run of
/// digits and dots followed by the letters of its unit (spaces between a
/// number and its unit, and between terms, are allowed).
fn split_terms(text: &str) -> Result<Vec<(&str, &str)>, DurationError> {
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let mut terms = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !is_number(c)).unwrap_or(rest.len());
        if number_end == 0 {
            // A unit with no number before it (`s`, `-1s`, `1h m`).
            return Err(if terms.is_empty() {
                DurationError::NotADuration
            } else {
                DurationError::UnknownUnit { unit: rest.trim().to_string() }
            });
        }
        let (number, after) = rest.split_at(number_end);
        let after = after.trim_start();
        let unit_end =
            after.find(|c: char| is_number(c) || c.is_whitespace()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        terms.push((number, unit));
        rest = after.trim_start();
    }
    Ok(terms)
}

fn parse_number(number: &str) -> Result<f64, DurationError> {
    crate::target::parse_decimal_fraction(number).ok_or(DurationError::NotADuration)
}

fn seconds_per_unit(unit: &str) -> Result<f64, DurationError> {
    Ok(match unit {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        other => return Err(DurationError::UnknownUnit { unit: other.to_string() }),
    })
}

/// Adds up the terms of `2h30m`. A term without a unit gets the suggestion
/// of the next smaller unit (`1m30` → `1m30s`).
fn sum_of_terms(text: &str, terms: &[(&str, &str)]) -> Result<f64, DurationError> {
    let mut total = 0.0;
    let mut previous_unit_seconds = f64::INFINITY;
    for (index, (number, unit)) in terms.iter().enumerate() {
        if unit.is_empty() {
            let smaller = match terms.get(index.wrapping_sub(1)).map(|(_, unit)| *unit) {
                Some("w") => "d",
                Some("d") => "h",
                Some("h") => "m",
                Some("m" | "min") => "s",
                Some("s" | "sec") => "ms",
                _ => "us",
            };
            return Err(DurationError::TermWithoutUnit { suggestion: format!("{text}{smaller}") });
        }
        let unit_seconds = seconds_per_unit(unit)?;
        if unit_seconds >= previous_unit_seconds {
            return Err(DurationError::TermsOutOfOrder);
        }
        previous_unit_seconds = unit_seconds;
        total += parse_number(number)? * unit_seconds;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use BareNumber::{Refused, Seconds};

    #[test]
    fn every_unit() {
        for (text, expected) in [
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("500ms", Duration::from_millis(500)),
            ("1.5s", Duration::from_millis(1500)),
            ("5sec", Duration::from_secs(5)),
            ("2m", Duration::from_secs(120)),
            ("2min", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("7d", Duration::from_secs(7 * 86_400)),
            ("2w", Duration::from_secs(14 * 86_400)),
            (" 30 s ", Duration::from_secs(30)),
            ("0ms", Duration::ZERO),
            (".5s", Duration::from_millis(500)),
            ("2h30m", Duration::from_secs(9000)),
            ("1m30s", Duration::from_secs(90)),
            ("1h 15m", Duration::from_secs(4500)),
            ("1d12h", Duration::from_secs(36 * 3600)),
            ("1s500ms", Duration::from_millis(1500)),
            ("1min 30sec", Duration::from_secs(90)),
        ] {
            assert_eq!(parse_duration(text, Refused), Ok(expected), "{text}");
            assert_eq!(parse_duration(text, Seconds), Ok(expected), "{text}");
        }
    }

    #[test]
    fn a_bare_number_is_seconds_or_refused() {
        assert_eq!(parse_duration("30", Seconds), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5", Seconds), Ok(Duration::from_millis(1500)));
        let error = parse_duration("100", Refused).unwrap_err();
        assert_eq!(error, DurationError::MissingUnit { number: "100".into() });
        assert_eq!(
            error.to_string(),
            "a number without a unit is ambiguous here: write 100ms or 100s"
        );
        // Zero is zero in every unit.
        assert_eq!(parse_duration("0", Refused), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0.0", Refused), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_text_is_refused() {
        for text in ["", "s", "ms", "soon", "-1s", "+1s", ".", "1..2s"] {
            assert_eq!(parse_duration(text, Seconds), Err(DurationError::NotADuration), "{text}");
        }
        assert_eq!(
            parse_duration("5 parsecs", Seconds),
            Err(DurationError::UnknownUnit { unit: "parsecs".into() })
        );
        assert_eq!(
            parse_duration("5x", Refused),
            Err(DurationError::UnknownUnit { unit: "x".into() })
        );
        assert_eq!(
            parse_duration("200y", Seconds),
            Err(DurationError::UnknownUnit { unit: "y".into() })
        );
        assert_eq!(parse_duration("1000000w", Seconds), Err(DurationError::TooLong));
        // Not zero, yet below a microsecond: never read as the zero that means
        // "no limit".
        for text in ["0.0000000001s", "0.0000001", "0.5us", "0.000000001ms"] {
            assert_eq!(parse_duration(text, Seconds), Err(DurationError::TooShort), "{text}");
        }
        assert_eq!(parse_duration("0.000", Refused), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1us", Refused), Ok(Duration::from_micros(1)));
        assert_eq!(
            parse_duration("1h-1m", Seconds),
            Err(DurationError::UnknownUnit { unit: "h-".into() })
        );
        assert_eq!(
            parse_duration("1e400", Seconds),
            Err(DurationError::UnknownUnit { unit: "e".into() })
        );
    }

    #[test]
    fn a_sum_needs_every_unit_once_and_largest_first() {
        let error = parse_duration("1m30", Seconds).unwrap_err();
        assert_eq!(error, DurationError::TermWithoutUnit { suggestion: "1m30s".into() });
        assert_eq!(error.to_string(), "every part of a sum needs a unit: write 1m30s");
        assert_eq!(
            parse_duration("2h30", Refused),
            Err(DurationError::TermWithoutUnit { suggestion: "2h30m".into() })
        );
        for text in ["30s1m", "1m1m", "1s 1m"] {
            assert_eq!(
                parse_duration(text, Seconds),
                Err(DurationError::TermsOutOfOrder),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("1h 30 parsecs", Seconds),
            Err(DurationError::UnknownUnit { unit: "parsecs".into() })
        );
        assert_eq!(parse_duration("1000000w1d", Seconds), Err(DurationError::TooLong));
    }
}
