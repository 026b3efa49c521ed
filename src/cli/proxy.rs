//! What `porthole proxy` flags take: durations that need a unit, sizes,
//! bandwidth rates, toxicity, and `-a KEY=VALUE` toxic attributes, in the
//! integer units the Toxiproxy API uses.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

use super::duration::{parse_duration, BareNumber};

/// `-a latency=100 -a jitter=10` → `{"latency": 100, "jitter": 10}`.
pub fn parse_attributes(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut attributes = Map::new();
    for pair in pairs {
        let (key, value) =
            pair.split_once('=').ok_or_else(|| anyhow!("attribute \"{pair}\" is not KEY=VALUE"))?;
        // The digits every number porthole takes, with the minus sign the
        // API's integers may carry (the server says which are negative).
        let trimmed = value.trim();
        let (sign, digits) = match trimmed.strip_prefix('-') {
            Some(digits) => (-1, digits),
            None => (1, trimmed),
        };
        let number = crate::target::parse_decimal(digits)
            .ok_or_else(|| anyhow!("attribute {key}: \"{value}\" is not an integer"))?;
        // An integer all the same: the API's attributes stop far below.
        let number = i64::try_from(number).map(|number| sign * number).map_err(|_| {
            anyhow!("attribute {key}: {value} is out of range (the API's integers are 64-bit)")
        })?;
        // A second value for one name is a typo for another attribute more
        // often than a change of mind; toxiproxy-cli silently keeps the last.
        if let Some(first) = attributes.insert(key.trim().to_string(), Value::from(number)) {
            bail!("attribute {} given twice ({first} and {number})", key.trim());
        }
    }
    Ok(attributes)
}

/// A probability, as `--toxicity` takes it: a decimal number from 0 to 1
/// in the forms every number porthole takes (no sign, no exponent, no
/// `nan` or `inf`).
pub fn check_toxicity(text: &str) -> anyhow::Result<f32> {
    let Some(toxicity) = crate::target::parse_decimal_fraction(text.trim()) else {
        bail!(
            "--toxicity '{text}': not a probability (a decimal number from 0 to 1, such as 0.25)"
        );
    };
    if !(0.0..=1.0).contains(&toxicity) {
        bail!("--toxicity must be between 0 and 1, got {text}");
    }
    Ok(toxicity as f32)
}

/// A duration given to a `porthole proxy` flag. A unit is required: these
/// flags once read a bare number as milliseconds, the rest of porthole as
/// seconds (see [`crate::cli::duration`]).
pub fn parse_flag_duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    parse_duration(text, BareNumber::Refused).with_context(|| format!("{flag} '{text}'"))
}

/// A flag's duration in whole milliseconds, as the Toxiproxy API takes it.
/// A fraction of a millisecond is refused rather than cut off: `--latency
/// 100us` would otherwise ask for no latency at all.
pub fn parse_flag_millis(flag: &str, text: &str) -> anyhow::Result<i64> {
    whole_units(flag, text, 1_000_000, "milliseconds")
}

/// A flag's duration in whole microseconds (`--slice-delay`).
pub fn parse_flag_micros(flag: &str, text: &str) -> anyhow::Result<i64> {
    whole_units(flag, text, 1_000, "microseconds")
}

/// `text` as a whole number of units of `unit_nanos`. The duration parser
/// works in floating-point seconds, so a value within its rounding error of
/// a whole unit (a nanosecond, or 2^-44 of the value, far above f64's 2^-52)
/// counts as that unit: `99999999999ms` is not 99999999998 and a bit.
fn whole_units(flag: &str, text: &str, unit_nanos: u128, unit: &str) -> anyhow::Result<i64> {
    let nanos = parse_flag_duration(flag, text)?.as_nanos();
    let units = (nanos + unit_nanos / 2) / unit_nanos;
    if nanos.abs_diff(units * unit_nanos) > (nanos >> 44).max(1) {
        bail!("{flag} '{text}': the toxic counts whole {unit}");
    }
    Ok(i64::try_from(units).unwrap_or(i64::MAX))
}

/// `512`, `10KB`, `1MB` (powers of 1000), `4KiB`, `1MiB` (powers of 1024),
/// as the Toxiproxy API's integer attributes take it (see
/// [`crate::cli::size`]).
pub fn parse_bytes(text: &str) -> anyhow::Result<i64> {
    let bytes =
        crate::cli::size::parse_size(text).with_context(|| format!("invalid size \"{text}\""))?;
    // parse_size stays below i64::MAX.
    Ok(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// A rate in KB/s as Toxiproxy's `bandwidth` takes it: `100KB/s`,
/// `1MB/s`, or a bare number of KB/s.
pub fn parse_rate(text: &str) -> anyhow::Result<i64> {
    let trimmed = text.trim();
    let without =
        trimmed.strip_suffix("/s").or_else(|| trimmed.strip_suffix("ps")).unwrap_or(trimmed);
    let kilobytes = if without.chars().all(|c| c.is_ascii_digit() || c == '.') {
        crate::target::parse_decimal_fraction(without)
            .ok_or_else(|| anyhow!("invalid rate \"{text}\" (try 100KB/s)"))?
    } else {
        parse_bytes(without).with_context(|| format!("invalid rate \"{text}\""))? as f64 / 1e3
    };
    // As a size with a unit is bounded (8 EB): beyond, the rate was cut at
    // i64::MAX, the toxic's integer, and worded with an overflow.
    if !kilobytes.is_finite() || kilobytes >= crate::cli::size::MAX_BYTES / 1e3 {
        bail!("invalid rate \"{text}\": larger than 8 EB/s");
    }
    let rate = kilobytes.round() as i64;
    if rate < 1 {
        bail!("invalid rate \"{text}\": the bandwidth toxic counts whole KB/s (at least 1KB/s)");
    }
    // A fraction of a KB/s is refused, not rounded: `1500B/s` would run at
    // 2KB/s, a third faster than asked (as `--latency 100us` is refused).
    if (kilobytes - rate as f64).abs() > 1e-9 * kilobytes {
        let below = kilobytes.floor() as i64;
        bail!(
            "invalid rate \"{text}\": the bandwidth toxic counts whole KB/s (write {below}KB/s or \
             {}KB/s)",
            below.saturating_add(1)
        );
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_flag_millis("--latency", "1.5s").unwrap(), 1500);
        assert_eq!(
            parse_flag_duration("--slice-delay", "250us").unwrap(),
            Duration::from_micros(250)
        );
        assert_eq!(parse_flag_millis("--timeout", "0").unwrap(), 0);
        let error = parse_flag_millis("--latency", "40").unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "--latency '40': a number without a unit is ambiguous here: write 40ms or 40s"
        );
        assert!(parse_flag_duration("--timeout", "soon").is_err());
        assert_eq!(parse_flag_millis("--timeout", "99999999999ms").unwrap(), 99_999_999_999);
        assert_eq!(parse_flag_millis("--latency", "0.29s").unwrap(), 290);
        assert_eq!(parse_flag_millis("--latency", "2000us").unwrap(), 2);
        for fraction in ["100us", "1.5ms", "1999us"] {
            let error = parse_flag_millis("--latency", fraction).unwrap_err();
            assert_eq!(
                format!("{error:#}"),
                format!("--latency '{fraction}': the toxic counts whole milliseconds")
            );
        }
        assert_eq!(parse_flag_micros("--slice-delay", "1.5ms").unwrap(), 1500);
        assert!(parse_flag_micros("--slice-delay", "1.5us").is_err());
    }

    #[test]
    fn sizes_and_rates() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("10KB").unwrap(), 10_000);
        assert_eq!(parse_bytes("1MiB").unwrap(), 1 << 20);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_rate("100KB/s").unwrap(), 100);
        // A number past what the toxic's integer holds: an error, not an
        // overflow while wording one.
        for text in ["18446744073709551616", "9200000000000000.5"] {
            let error = parse_rate(text).unwrap_err().to_string();
            assert_eq!(error, format!("invalid rate \"{text}\": larger than 8 EB/s"));
        }
        assert_eq!(parse_rate("1MB/s").unwrap(), 1000);
        assert_eq!(parse_rate("250").unwrap(), 250);
        assert!(parse_rate("10B/s").is_err());
        // Whole KB/s only: a fraction is refused rather than rounded.
        assert_eq!(parse_rate("1.5MB/s").unwrap(), 1500);
        assert_eq!(parse_rate("2000B/s").unwrap(), 2);
        for (text, below) in [("1500B/s", 1), ("100.5", 100), ("2.5KB/s", 2)] {
            let error = parse_rate(text).unwrap_err().to_string();
            assert_eq!(
                error,
                format!(
                    "invalid rate \"{text}\": the bandwidth toxic counts whole KB/s (write \
                     {below}KB/s or {}KB/s)",
                    below + 1
                )
            );
        }
    }

    #[test]
    fn toxicity_takes_the_forms_every_number_takes() {
        for (text, expected) in [("0.5", 0.5), (".25", 0.25), ("1", 1.0), ("0", 0.0), (" 1. ", 1.0)]
        {
            assert_eq!(check_toxicity(text).unwrap(), expected, "{text}");
        }
        for text in ["+0.5", "-0", "1e-1", "nan", "NaN", "inf", "-inf", "0x1", "0.5.", "", ".", "½"]
        {
            let error = check_toxicity(text).unwrap_err().to_string();
            assert!(error.contains("not a probability"), "{text}: {error}");
        }
        for text in ["1.5", "2"] {
            let error = check_toxicity(text).unwrap_err().to_string();
            assert_eq!(error, format!("--toxicity must be between 0 and 1, got {text}"));
        }
    }

    #[test]
    fn attributes_must_be_integers() {
        let parsed = parse_attributes(&["latency=100".into(), "jitter=5".into()]).unwrap();
        assert_eq!(parsed["latency"], 100);
        assert!(parse_attributes(&["latency=fast".into()]).is_err());
        assert!(parse_attributes(&["latency".into()]).is_err());
        // The forms every number takes, and the API's minus sign.
        assert_eq!(parse_attributes(&["latency= 7 ".into()]).unwrap()["latency"], 7);
        assert_eq!(parse_attributes(&["latency=-7".into()]).unwrap()["latency"], -7);
        for value in ["+100", "0x10", "1e3", "--1", "-", ""] {
            assert!(parse_attributes(&[format!("latency={value}")]).is_err(), "{value:?}");
        }
        let huge = parse_attributes(&["latency=99999999999999999999".into()]).unwrap_err();
        assert!(huge.to_string().contains("out of range"), "{huge}");
        let twice = parse_attributes(&["latency=5".into(), " latency=6".into()]).unwrap_err();
        assert_eq!(twice.to_string(), "attribute latency given twice (5 and 6)");
    }
}
