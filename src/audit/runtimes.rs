//! Language runtimes that no package owns (a Node.js or Python unpacked
//! from a tarball, a self-built interpreter): the version they state, and
//! whether their upstream has stopped fixing them. No package manager will
//! ever offer their update, so `outdated-package` reports them from this
//! small table instead.
//!
//! # The table
//! Written in November 2026 from the projects' own published schedules:
//! - Node.js: <https://github.com/nodejs/Release> (`schedule.json`);
//!   even majors end 30 April three years after release, odd majors two
//!   months after the next even one;
//! - Python: <https://devguide.python.org/versions/>.
//!
//! Versions newer than the table are not judged.

/// A runtime this module knows how to ask for its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Node,
    Python,
}

impl Runtime {
    /// The runtime an executable is, from its file name.
    pub fn of_executable(path: &str) -> Option<Runtime> {
        let name = path.rsplit('/').next().unwrap_or(path);
        if name == "node" || name == "nodejs" {
            return Some(Runtime::Node);
        }
        let rest = name.strip_prefix("python")?;
        rest.chars().all(|c| c.is_ascii_digit() || c == '.').then_some(Runtime::Python)
    }

    pub fn name(self) -> &'static str {
        match self {
            Runtime::Node => "node",
            Runtime::Python => "python",
        }
    }

    /// Where the end-of-life dates come from.
    pub fn source(self) -> &'static str {
        match self {
            Runtime::Node => "https://github.com/nodejs/Release",
            Runtime::Python => "https://devguide.python.org/versions/",
        }
    }

    /// (major, minor) out of `--version` output: `v20.20.2`,
    /// `Python 3.11.7`.
    pub fn parse_version(self, output: &str) -> Option<(u32, u32, String)> {
        let text = output.trim();
        let version = match self {
            Runtime::Node => text.strip_prefix('v')?,
            Runtime::Python => text.strip_prefix("Python ")?,
        };
        let version = version.split_whitespace().next()?;
        let mut numbers = version.split('.');
        let major = numbers.next()?.parse().ok()?;
        let minor = numbers.next()?.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()?;
        Some((major, minor, version.to_string()))
    }

    /// End of upstream support of `major.minor`, as `YYYY-MM-DD`.
    pub fn end_of_life(self, major: u32, minor: u32) -> Option<&'static str> {
        match self {
            Runtime::Node => NODE.iter().find(|(m, _)| *m == major).map(|(_, date)| *date),
            Runtime::Python => {
                PYTHON.iter().find(|(m, n, _)| *m == major && *n == minor).map(|(_, _, date)| *date)
            }
        }
    }
}

/// Node.js majors and their end of life.
const NODE: [(u32, &str); 16] = [
    (10, "2021-04-30"),
    (11, "2019-06-01"),
    (12, "2022-04-30"),
    (13, "2020-06-01"),
    (14, "2023-04-30"),
    (15, "2021-06-01"),
    (16, "2023-09-11"),
    (17, "2022-06-01"),
    (18, "2025-04-30"),
    (19, "2023-06-01"),
    (20, "2026-04-30"),
    (21, "2024-06-01"),
    (22, "2027-04-30"),
    (23, "2025-06-01"),
    (24, "2028-04-30"),
    (25, "2026-06-01"),
];

/// CPython versions and their end of life.
const PYTHON: [(u32, u32, &str); 13] = [
    (2, 7, "2020-01-01"),
    (3, 5, "2020-09-13"),
    (3, 6, "2021-12-23"),
    (3, 7, "2023-06-27"),
    (3, 8, "2024-10-07"),
    (3, 9, "2025-10-31"),
    (3, 10, "2026-10-31"),
    (3, 11, "2027-10-31"),
    (3, 12, "2028-10-31"),
    (3, 13, "2029-10-31"),
    (3, 14, "2030-10-31"),
    (3, 4, "2019-03-18"),
    (3, 3, "2017-09-29"),
];

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian).
/// See: <https://howardhinnant.github.io/date_algorithms.html#days_from_civil>
pub fn days_from_civil(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// A runtime's stated version and its support status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeStatus {
    pub runtime: Runtime,
    /// The executable asked.
    pub path: String,
    /// As stated: `20.20.2`, `3.11.7`.
    pub version: String,
    /// End of upstream support, when the table knows the version.
    pub end_of_life: Option<&'static str>,
    /// `today` is after the end of life.
    pub past_end_of_life: bool,
}

/// Judges `--version` output of `path` on day `today` (days since epoch).
pub fn judge(runtime: Runtime, path: &str, output: &str, today: i64) -> Option<RuntimeStatus> {
    let (major, minor, version) = runtime.parse_version(output)?;
    let end_of_life = runtime.end_of_life(major, minor);
    let past_end_of_life = end_of_life.and_then(days_from_civil).is_some_and(|end| today > end);
    Some(RuntimeStatus { runtime, path: path.to_string(), version, end_of_life, past_end_of_life })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil("1970-01-01"), Some(0));
        assert_eq!(days_from_civil("2000-03-01"), Some(11_017));
        assert_eq!(days_from_civil("2026-04-30"), Some(20_573));
        assert_eq!(days_from_civil("2026-13-01"), None);
    }

    #[test]
    fn runtimes_by_name_and_version() {
        assert_eq!(Runtime::of_executable("/opt/node-v20/bin/node"), Some(Runtime::Node));
        assert_eq!(Runtime::of_executable("/usr/local/bin/python3.8"), Some(Runtime::Python));
        assert_eq!(Runtime::of_executable("/usr/bin/python3"), Some(Runtime::Python));
        assert_eq!(Runtime::of_executable("/usr/bin/python-config"), None);
        assert_eq!(Runtime::of_executable("/srv/app/server"), None);
        assert_eq!(
            Runtime::Node.parse_version("v20.20.2\n"),
            Some((20, 20, "20.20.2".to_string()))
        );
        assert_eq!(
            Runtime::Python.parse_version("Python 3.13.0rc1\n"),
            Some((3, 13, "3.13.0rc1".to_string()))
        );
        assert_eq!(Runtime::Python.parse_version("garbage"), None);
    }

    #[test]
    fn end_of_life_is_judged_against_today() {
        let day_after = days_from_civil("2026-05-01").unwrap();
        let node20 = judge(Runtime::Node, "/opt/node", "v20.20.2", day_after).unwrap();
        assert_eq!(node20.end_of_life, Some("2026-04-30"));
        assert!(node20.past_end_of_life);
        let day_of = days_from_civil("2026-04-30").unwrap();
        assert!(!judge(Runtime::Node, "/opt/node", "v20.20.2", day_of).unwrap().past_end_of_life);
        let future = judge(Runtime::Node, "/opt/node", "v99.0.0", day_after).unwrap();
        assert_eq!((future.end_of_life, future.past_end_of_life), (None, false));
        assert!(
            judge(Runtime::Python, "/x/python3.8", "Python 3.8.20", day_after)
                .unwrap()
                .past_end_of_life
        );
    }
}
