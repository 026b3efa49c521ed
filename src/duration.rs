//! The one parser of durations typed by a person: on the command line
//! (`--timeout 30s`, `--latency 100ms`, `--keep 7d`) and in the alert rules
//! file (`for = "2m"`). It sits at the crate root, not in `cli`, so that
//! engines reading files people write can share it.
//!
//! # The rule
//! A duration is a decimal number and a unit: `us` (or `µs`), `ms`, `s`
//! (`sec`), `m` (`min`), `h`, `d` or `w`, e.g. `250us`, `500ms`, `1.5s`,
//! `2m`, `1h`, `7d`. Each flag bounds the value itself (`top --interval`
//! wants at least 100ms, `--keep` more than zero…).
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
    #[error("unknown unit {unit:?} (expected us, ms, s, m, h, d or w, e.g. 500ms or 30s)")]
    UnknownUnit { unit: String },
    #[error("longer than a hundred years")]
    TooLong,
}

/// Longest duration accepted: a hundred years. Longer is a typo, and keeps
/// microsecond timestamps (`history --since`) far from overflow.
const MAX_SECONDS: f64 = 3.2e9;

/// Parses `text` by the rule in the module documentation.
pub fn parse_duration(text: &str, bare: BareNumber) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let Ok(value) = number.parse::<f64>() else { return Err(DurationError::NotADuration) };
    let seconds_per_unit = match unit.trim() {
        "" if value == 0.0 => 1.0,
        "" => match bare {
            BareNumber::Seconds => 1.0,
            BareNumber::Refused => {
                return Err(DurationError::MissingUnit { number: number.to_string() })
            }
        },
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        other => return Err(DurationError::UnknownUnit { unit: other.to_string() }),
    };
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || seconds > MAX_SECONDS {
        return Err(DurationError::TooLong);
    }
    Ok(Duration::from_secs_f64(seconds))
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
        assert_eq!(
            parse_duration("1e400", Seconds),
            Err(DurationError::UnknownUnit { unit: "e400".into() })
        );
    }
}
