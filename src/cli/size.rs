//! The one parser of sizes typed on the command line (`monitor --max-size
//! 500MB`, `proxy run --limit-data 10KB`, `--bandwidth 1MB/s`).
//!
//! A size is a decimal number and an optional unit, case-insensitive: none
//! or `b` for bytes; `k`/`kb`, `m`/`mb`, `g`/`gb`, `t`/`tb` in powers of 1000;
//! `kib`, `mib`, `gib`, `tib` in powers of 1024. Fractions are rounded to a
//! whole byte (`1.5KB` is 1500), never to 0 from a number that is not 0. Each
//! flag bounds the value itself.

/// Why a size did not parse. The caller adds the flag and the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("expected a size such as 512, 10KB, 500MB or 1GiB")]
    NotASize,
    #[error("unknown unit \"{unit}\" (expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)")]
    UnknownUnit { unit: String },
    #[error("larger than 8 EB")]
    TooLarge,
    #[error("less than a byte, yet not 0")]
    TooSmall,
}

/// Largest size accepted: below `i64::MAX`, the proxy's attribute type.
pub const MAX_BYTES: f64 = 9.2e18;

/// Parses `text` by the rule in the module documentation.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let Ok(value) = number.parse::<f64>() else { return Err(SizeError::NotASize) };
    let bytes_per_unit = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0f64.powi(3),
        "tib" => 1024.0f64.powi(4),
        _ => return Err(SizeError::UnknownUnit { unit: unit.trim().to_string() }),
    };
    let bytes = (value * bytes_per_unit).round();
    if !bytes.is_finite() || bytes >= MAX_BYTES {
        return Err(SizeError::TooLarge);
    }
    // `--limit-data 0.4` came out as 0 bytes, a limit other than the one
    // typed: a number that is not zero never rounds to it.
    if bytes == 0.0 && value > 0.0 {
        return Err(SizeError::TooSmall);
    }
    // In range and non-negative (no sign is accepted): the cast is exact.
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit() {
        for (text, bytes) in [
            ("512", 512),
            ("0", 0),
            ("512b", 512),
            ("10KB", 10_000),
            ("10k", 10_000),
            ("1.5kb", 1500),
            ("500MB", 500_000_000),
            ("2G", 2_000_000_000),
            ("1TB", 1_000_000_000_000),
            ("4KiB", 4096),
            ("64MiB", 64 << 20),
            ("1GiB", 1 << 30),
            ("1TiB", 1 << 40),
            (" 2 MB ", 2_000_000),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn bad_sizes() {
        for text in ["", "MB", "lots", "-1", "+1", "1..2KB"] {
            assert_eq!(parse_size(text), Err(SizeError::NotASize), "{text}");
        }
        assert_eq!(parse_size("5 parsecs"), Err(SizeError::UnknownUnit { unit: "parsecs".into() }));
        assert_eq!(parse_size("10000000TB"), Err(SizeError::TooLarge));
        assert_eq!(parse_size("0.4"), Err(SizeError::TooSmall));
        assert_eq!(parse_size("0.0000000001KB"), Err(SizeError::TooSmall));
        assert_eq!(parse_size("0.0"), Ok(0));
    }
}
