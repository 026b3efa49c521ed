//! Resolution of `porthole history` arguments, and the time, duration and
//! size forms the history commands share (`--since 2h`, `--since
//! 2026-11-28T09:00`, `--keep 7d`, `--max-size 500MB`).

use anyhow::{bail, Context};

use crate::cli::args::HistoryArgs;
use crate::cli::duration::BareNumber;
use crate::model::history::{ClientGrouping, HistoryQuery, UtcTime};
use crate::model::monitor::UnixMicros;
use crate::model::Protocol;
use crate::render::Format;
use crate::store::{Sections, StoreLocation};
use crate::target::{Endpoint, Transport};

/// Everything `porthole history` needs, validated.
#[derive(Debug, Clone)]
pub struct HistorySettings {
    pub location: StoreLocation,
    /// The endpoint as typed; its host (if a name) is resolved by the
    /// command, the rest is already in `query`.
    pub endpoint: Option<Endpoint>,
    pub query: HistoryQuery,
    pub sections: Sections,
    pub format: Format,
}

impl HistorySettings {
    /// Resolves the arguments; relative times count back from `now`.
    pub fn resolve(args: HistoryArgs, now: UnixMicros) -> anyhow::Result<Self> {
        let HistoryArgs {
            endpoint,
            since,
            until,
            process,
            listeners,
            connections,
            each,
            limit,
            by,
            host,
            store,
            json,
            jsonl,
        } = args;
        // `unix:PATH`, as `wait` and `check` spell a Unix socket: its
        // listeners (the path was never a port; main sanitises messages).
        let mut path = None;
        let mut endpoint = endpoint;
        if let Some(text) = endpoint.as_deref().map(str::trim).filter(|text| is_unix_path(text)) {
            let Some(socket) = text.strip_prefix("unix:") else {
                bail!("'{text}' is no port: a Unix socket is written unix:{text}");
            };
            if socket.is_empty() {
                bail!("missing socket path after 'unix:'");
            }
            path = Some(socket.to_string());
            endpoint = None;
        }
        // `5353/udp` and `127.0.0.1:53/udp`, as `who`, `ls` and the audit
        // write a port of a transport, or `udp:5353` as lsof does.
        let (endpoint, transport) = match endpoint.as_deref() {
            Some(text) => {
                let (text, transport) =
                    crate::target::split_transport(text).with_context(|| format!("'{text}'"))?;
                (Some(text.to_string()), transport)
            }
            None => (None, None),
        };
        if let Some(time) = endpoint.as_deref().map(str::trim).filter(|text| is_time_of_day(text)) {
            // `--since 2026-11-28 10:00` unquoted: the shell made the time
            // of day a word of its own, which would be read as HOST:PORT.
            let flags = [("--since", &since), ("--until", &until)];
            let dated = flags.into_iter().find_map(|(flag, value)| {
                value.as_deref().map(str::trim).filter(|v| is_bare_date(v)).map(|v| (flag, v))
            });
            if let Some((flag, date)) = dated {
                bail!(
                    "'{time}' is a time of day, not a port: {flag} takes the date and the time \
                     as one word: write {flag} '{date} {time}' or {flag} {date}T{time}"
                );
            }
        }
        let endpoint = endpoint
            .as_deref()
            .map(|text| Endpoint::parse(text).with_context(|| format!("'{text}'")))
            .transpose()?;
        let since_text = since.clone();
        let since = since
            .as_deref()
            .map(|text| parse_time(text, now).with_context(|| format!("--since '{text}'")))
            .transpose()?;
        let until = until
            .as_deref()
            .map(|text| parse_time(text, now).with_context(|| format!("--until '{text}'")))
            .transpose()?;
        if let Some(since) = since.filter(|&since| since > now) {
            // A local time typed as UTC east of Greenwich, a date typo, or
            // last evening's time asked after midnight: an empty answer
            // would read as "nothing happened".
            let typed = since_text.as_deref().map(str::trim).unwrap_or_default();
            let yesterday = if is_clock(typed) {
                format!("; yesterday's is --since 'yesterday {typed}'")
            } else {
                String::new()
            };
            bail!(
                "--since {} UTC is later than now ({} UTC): nothing can have been recorded \
                 yet{yesterday} (a time without an offset is UTC; give a local one with its \
                 offset, such as 2026-11-28T10:00+01:00)",
                UtcTime::from_micros(since),
                UtcTime::from_micros(now)
            );
        }
        if let (Some(since), Some(until)) = (since, until) {
            if since >= until {
                bail!(
                    "--since {} UTC is not before --until {} UTC: the window would be empty",
                    UtcTime::from_micros(since),
                    UtcTime::from_micros(until)
                );
            }
        }
        // A huge limit means "all of them"; the stores take it as a signed
        // 64-bit number (plus one, to tell a cut list), so it is capped there.
        const MOST: usize = i64::MAX as usize - 1;
        let limit = match crate::cli::settings::parse_count(&limit) {
            Some(limit) if limit > 0 => {
                usize::try_from(limit).map_or(MOST, |limit| limit.min(MOST))
            }
            _ => bail!("--limit '{limit}': expected a positive number"),
        };
        // The bytes of a name that is not UTF-8 are matched as the recorder
        // kept them (see `crate::model::os_text`).
        let process = process.map(|name| crate::model::os_text::from_os_str(&name));
        if process.as_deref() == Some("") {
            bail!("--process: empty name");
        }
        let store = crate::cli::settings::unless_empty_variable(store, "PORTHOLE_STORE");
        let location = StoreLocation::resolve(store.as_deref())?;
        let addresses = match endpoint.as_ref().and_then(|e| e.host.as_ref()) {
            // The recorder stores IPv4 peers of dual-stack sockets as IPv4,
            // so `[::ffff:127.0.0.1]:PORT` asks about 127.0.0.1.
            Some(crate::target::Host::Ip(ip)) => vec![ip.to_canonical()],
            // The store keeps no zone: a link-local address is asked about
            // on every interface, but never widened to every address.
            Some(crate::target::Host::Scoped { address, .. }) => {
                vec![std::net::IpAddr::V6(*address)]
            }
            _ => Vec::new(),
        };
        let protocol = match (&path, transport) {
            (Some(_), _) => Some(Protocol::Unix),
            (None, Some(Transport::Tcp)) => Some(Protocol::Tcp),
            (None, Some(Transport::Udp)) => Some(Protocol::Udp),
            (None, None) => None,
        };
        let query = HistoryQuery {
            port: endpoint.as_ref().map(|e| e.port),
            addresses,
            protocol,
            path,
            since,
            until,
            process,
            host,
            limit,
            grouping: match by {
                crate::cli::args::ClientGroupingArg::Program => ClientGrouping::Program,
                crate::cli::args::ClientGroupingArg::Process => ClientGrouping::Process,
            },
        };
        let sections = Sections { listeners: !connections, connections: !listeners, each };
        let format = if json {
            Format::Json
        } else if jsonl {
            Format::Jsonl
        } else {
            Format::Table
        };
        Ok(HistorySettings { location, endpoint, query, sections, format })
    }
}

/// Whether a word is a time of day as `--since` takes it after a date
/// (`10:00`, `10:00:30`, `10:00:30.5Z`); no such word is an endpoint, whose
/// host would be a number the resolver reads as a shorthand IPv4 address.
fn is_time_of_day(text: &str) -> bool {
    let text = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let (text, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let fields: Vec<&str> = text.split(':').collect();
    let two_digits = |field: &&str| field.len() == 2 && field.bytes().all(|b| b.is_ascii_digit());
    let hours = fields
        .first()
        .is_some_and(|h| (1..=2).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_digit()));
    hours
        && (2..=3).contains(&fields.len())
        && fields[1..].iter().all(two_digits)
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a `--since`/`--until` value is a date alone (`2026-11-28`).
fn is_bare_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        })
}

/// Whether an endpoint names a Unix socket (`unix:/run/app.sock`, a path, or
/// an abstract `@name`) rather than a port.
fn is_unix_path(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("unix:") || text.starts_with(['/', '@']) || text.starts_with("./")
}

/// Bare numbers of seconds from this many on are read as Unix times
/// typed without their `@` (about 31 years ago, the first Unix time of
/// September 2001), not as spans: no recorder kept a record that old.
const UNIX_TIME_LOOKALIKE: u64 = 1_000_000_000;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Every form `--since` and `--until` take, as the message refusing one
/// names them.
pub const TIME_FORMS: &str = "a span ago (90m, 2h, 7d), a UTC date or time (2026-11-28, \
     2026-11-28T09:00, or a local one with its offset: 2026-11-28T10:00+01:00), a time of day \
     (09:00, yesterday 22:00), now, today, yesterday or Unix seconds (@1795860000)";

/// Parses a point in time: a duration ago (`2h`, `30m`, `90s`, `7d`), a
/// UTC time `YYYY-MM-DD[THH:MM[:SS]][Z]` (a space may replace the `T`), a
/// time of day `HH:MM[:SS]` (UTC, or with an offset) today's or after
/// `today` or `yesterday` (either side of it, as `date -d` takes both),
/// `today` and `yesterday` alone (midnight UTC), `now`, or Unix seconds as
/// `date +@%s` writes them (`@1795860000`).
pub fn parse_time(text: &str, now: UnixMicros) -> anyhow::Result<UnixMicros> {
    let text = text.trim();
    // A year and a dash: a date, whatever is wrong with it (`10000-01-01`
    // is no time, not a span with an unknown unit `-`).
    let year = text.bytes().take_while(u8::is_ascii_digit).count();
    if year >= 4 && text.as_bytes().get(year) == Some(&b'-') {
        return parse_utc(text);
    }
    if text.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    // Midnight UTC of this day or the one before, as `date -d` reads them.
    let midnight = now.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
    let day = |word: &str| {
        if word.eq_ignore_ascii_case("today") {
            Some(midnight)
        } else if word.eq_ignore_ascii_case("yesterday") {
            Some(midnight - MICROS_PER_DAY)
        } else {
            None
        }
    };
    if let Some(day) = day(text) {
        return Ok(day);
    }
    // A time of day alone (`09:00`, `09:00Z`, `10:00+01:00`) is today's
    // (the UTC date), as `date -d 09:00` takes it; "last night" is
    // `yesterday 22:00` (or `22:00 yesterday`).
    let (day, clock) = match text.split_once(char::is_whitespace) {
        Some((first, second)) => match (day(first), day(second.trim())) {
            (Some(day), None) => (Some(day), second.trim()),
            (None, Some(day)) => (Some(day), first),
            _ => (None, text),
        },
        None => (Some(midnight), text),
    };
    if let Some(day) = day.filter(|_| is_clock(clock)) {
        let day = UtcTime::from_micros(day);
        let date = format!("{:04}-{:02}-{:02}", day.year, day.month, day.day);
        return parse_utc(&format!("{date}T{clock}"));
    }
    if let Some(seconds) = text.strip_prefix('@') {
        if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit()) {
            bail!("expected Unix seconds after @, such as @1795860000");
        }
        // The last second of 9999, as the dates written out stop there:
        // a later year has no four-digit form for the answer and its JSON.
        const LAST: i64 = 253_402_300_799;
        return match seconds.parse::<i64>() {
            Ok(seconds) if seconds <= LAST => Ok(seconds * 1_000_000),
            _ => bail!("@{seconds} is after the year 9999 (the last is @{LAST})"),
        };
    }
    // `20261128` is a date written without dashes, not 234 days of seconds.
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) && text.starts_with("20") {
        bail!("looks like a date: write it as {}-{}-{}", &text[..4], &text[4..6], &text[6..]);
    }
    // `1795860000` is a Unix time (from `date +%s`, a log), not 56 years
    // ago: read as a span it silently widened the window to 1970.
    if text.parse::<u64>().is_ok_and(|number| number >= UNIX_TIME_LOOKALIKE) {
        bail!("looks like a Unix time: write it as @{text} (or a span such as 2h)");
    }
    // A number first is a span with something wrong in it, whose error
    // says what; anything else is no form at all.
    let ago = parse_span(text).map_err(|error| {
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            anyhow::anyhow!("{error}; or give another time: {TIME_FORMS}")
        } else {
            anyhow::anyhow!("not a time: expected {TIME_FORMS}")
        }
    })?;
    Ok(now.saturating_sub(ago.as_micros() as i64))
}

/// Whether a word is a time of day with an optional offset from UTC
/// (`09:00`, `09:00Z`, `10:00+01:00`, `04:30-04:30`).
fn is_clock(text: &str) -> bool {
    is_time_of_day(text.find(['+', '-']).map_or(text, |at| &text[..at]))
}

/// Parses `2026-11-28`, `2026-11-28T09:00`, `2026-11-28 09:00:30Z`, and a
/// time with its offset from UTC, `2026-11-28T10:00+01:00` (as RFC 3339
/// and `date --iso-8601=minutes` write it).
fn parse_utc(text: &str) -> anyhow::Result<UnixMicros> {
    const FORM: &str = "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC, or with an offset \
                        such as +01:00)";
    // As porthole's own messages write a time (`--since 2026-11-28 09:00:00
    // UTC is not before …`), so a time copied from one is taken back.
    let (text, said_utc) = match text.len().checked_sub(4).and_then(|at| text.get(at..)) {
        Some(suffix) if suffix.eq_ignore_ascii_case(" utc") => (&text[..text.len() - 4], true),
        _ => (text, false),
    };
    if said_utc
        && (text.ends_with(['Z', 'z']) || text.get(10..).is_some_and(|t| t.contains(['+', '-'])))
    {
        bail!("UTC and another zone at once ({FORM})");
    }
    // RFC 3339 allows `t` and `z` in lower case.
    let text = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    // The offset east of UTC, in seconds: `+01:00`, `-0530`, `+02`.
    let (time, offset) = match time.and_then(|time| time.find(['+', '-']).map(|at| (time, at))) {
        Some((time, at)) => {
            let sign = if time.as_bytes()[at] == b'-' { -1 } else { 1 };
            let zone = &time[at + 1..];
            let (hours, minutes) = match zone.split_once(':') {
                Some((hours, minutes)) => (hours, minutes),
                None if zone.len() == 4 => zone.split_at(2),
                None => (zone, "00"),
            };
            let valid = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
            if !valid(hours) || !valid(minutes) {
                bail!("not a UTC offset ({FORM})");
            }
            let (hours, minutes): (i64, i64) = (hours.parse()?, minutes.parse()?);
            if hours > 23 || minutes > 59 {
                bail!("not a UTC offset ({FORM})");
            }
            (Some(&time[..at]), sign * (hours * 3600 + minutes * 60))
        }
        None => (time, 0),
    };
    let number = |part: &str| -> anyhow::Result<i64> {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || part.len() > 4 {
            bail!("not a time ({FORM})");
        }
        Ok(part.parse()?)
    };
    let date: Vec<&str> = date.split('-').collect();
    let [year, month, day] = date.as_slice() else { bail!("not a date ({FORM})") };
    // Fractions of a second, as porthole's own JSON writes its times
    // (`2026-11-28T10:02:03.123456Z`), so a time can be copied from there.
    let mut micros = 0;
    let (hour, minute, second) = match time {
        None => (0, 0, 0),
        Some(time) => {
            let parts: Vec<&str> = time.split(':').collect();
            match parts.as_slice() {
                [hour, minute] => (number(hour)?, number(minute)?, 0),
                [hour, minute, second] => {
                    let second = match second.split_once('.') {
                        Some((whole, fraction)) => {
                            if fraction.is_empty()
                                || fraction.len() > 9
                                || !fraction.bytes().all(|b| b.is_ascii_digit())
                            {
                                bail!("not a time ({FORM})");
                            }
                            let padded = format!("{fraction:0<6}");
                            micros = padded[..6].parse::<i64>()?;
                            whole
                        }
                        None => second,
                    };
                    (number(hour)?, number(minute)?, number(second)?)
                }
                _ => bail!("not a time ({FORM})"),
            }
        }
    };
    let calendar = UtcTime {
        year: number(year)?,
        month: number(month)? as u32,
        day: number(day)? as u32,
        hour: hour as u32,
        minute: minute as u32,
        second: second as u32,
    };
    let local = calendar.to_micros().with_context(|| format!("no such time ({FORM})"))?;
    Ok(local + micros - offset * 1_000_000)
}

/// Parses a span longer than zero: `90s`, `30m`, `2h`, `7d`, `2w`, or a
/// bare number of seconds (see [`crate::cli::duration`] for the rule).
pub fn parse_span(text: &str) -> anyhow::Result<std::time::Duration> {
    let span = crate::cli::duration::parse_duration(text, BareNumber::Seconds)?;
    if span.is_zero() {
        bail!("expected a span longer than zero, such as 90s, 30m, 2h or 7d");
    }
    Ok(span)
}

/// Parses a size larger than zero (see [`crate::cli::size`]).
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    match crate::cli::size::parse_size(text)? {
        0 => bail!("expected a size larger than zero, such as 500MB or 2GB"),
        bytes => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const NOW: UnixMicros = 1_795_860_000_000_000; // 2026-11-28 10:00:00 UTC

    fn resolve(args: &[&str]) -> anyhow::Result<HistorySettings> {
        let mut argv = vec!["porthole", "history"];
        argv.extend_from_slice(args);
        let cli = crate::cli::Cli::try_parse_from(argv).expect("parses");
        let crate::cli::Command::History(args) = cli.command else { panic!("not history") };
        HistorySettings::resolve(args, NOW)
    }

    #[test]
    fn a_time_of_day_split_from_its_date_is_named_as_such() {
        // `--since 2026-11-28 10:00` typed without quotes.
        for (args, expected) in [
            (
                &["--since", "2026-11-28", "10:00"][..],
                "'10:00' is a time of day, not a port: --since takes the date and the time as \
                 one word: write --since '2026-11-28 10:00' or --since 2026-11-28T10:00",
            ),
            (
                &["--until", "2026-11-28", "10:00:30"],
                "'10:00:30' is a time of day, not a port: --until takes the date and the time \
                 as one word: write --until '2026-11-28 10:00:30' or --until 2026-11-28T10:00:30",
            ),
        ] {
            let error = resolve(args).unwrap_err().to_string();
            assert_eq!(error, expected, "{args:?}");
        }
        // The quoted forms it names are read as times.
        let settings = resolve(&["--since", "2026-11-28 09:00"]).unwrap();
        assert_eq!(settings.query.since, Some(1_795_856_400_000_000));
        // A real endpoint beside a bare date is an endpoint.
        let settings = resolve(&["--since", "2026-11-28", "127.0.0.1:5432"]).unwrap();
        assert_eq!(settings.query.port, Some(5432));
        assert!(is_time_of_day("9:05") && is_time_of_day("10:00:30.5Z"));
        assert!(
            !is_time_of_day("10:80:1") && !is_time_of_day("[::1]:80") && !is_time_of_day("5432")
        );
        assert!(is_bare_date("2026-11-28") && !is_bare_date("2026-11-28T10:00"));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("2h", NOW).unwrap(), NOW - 7_200_000_000);
        assert_eq!(parse_time("7d", NOW).unwrap(), NOW - 7 * 86_400_000_000);
        assert_eq!(parse_time("2026-11-28T09:00", NOW).unwrap(), 1_795_856_400_000_000);
        assert_eq!(parse_time("2026-11-28 09:00:00Z", NOW).unwrap(), 1_795_856_400_000_000);
        assert_eq!(parse_time("2026-11-28", NOW).unwrap(), 1_795_824_000_000_000);
        let error = parse_time("10000-01-01", NOW).unwrap_err().to_string();
        assert!(error.starts_with("not a time"), "{error}");
        // As porthole's messages write times (`--since … UTC is not before`).
        assert_eq!(parse_time("2026-11-28 09:00:00 UTC", NOW).unwrap(), 1_795_856_400_000_000);
        assert_eq!(parse_time("2026-11-28 09:00 utc", NOW).unwrap(), 1_795_856_400_000_000);
        assert!(parse_time("2026-11-28 09:00+01:00 UTC", NOW).is_err());
        // As porthole's JSON writes times.
        assert_eq!(parse_time("2026-11-28T09:00:00.805405Z", NOW).unwrap(), 1_795_856_400_805_405);
        assert_eq!(parse_time("2026-11-28T09:00:00.5", NOW).unwrap(), 1_795_856_400_500_000);
        assert!(parse_time("2026-11-28T09:00:00.", NOW).is_err());
        assert!(parse_time("2026-11-28T09:00:00.5x", NOW).is_err());
        // Offsets from UTC, as `date --iso-8601` writes them.
        for local in ["2026-11-28T10:00+01:00", "2026-11-28T10:00+0100", "2026-11-28T04:30-04:30"] {
            assert_eq!(parse_time(local, NOW).unwrap(), 1_795_856_400_000_000, "{local}");
        }
        for bad in [
            "",
            "2x",
            "-2h",
            "0",
            "2026-13-01",
            "2026-02-30",
            "2026-11-28T25:00",
            "tomorrow",
            "25:00",
            "20261128",
            "2026-11-28T09:00+1:00",
            "2026-11-28T09:00+24:00",
            "2026-11-28T09:00+01:60",
            "2026-11-28T09:00+",
        ] {
            assert!(parse_time(bad, NOW).is_err(), "{bad}");
        }
    }

    /// What a user types for "this morning" and "since yesterday": a time
    /// of day is today's (UTC unless an offset says otherwise), and the
    /// day words are midnight UTC.
    #[test]
    fn times_of_day_and_day_words() {
        const NINE: UnixMicros = 1_795_856_400_000_000; // 2026-11-28 09:00:00 UTC
        for typed in ["09:00", "9:00", "09:00:00", "09:00Z", "10:00+01:00", "04:30-04:30"] {
            assert_eq!(parse_time(typed, NOW).unwrap(), NINE, "{typed}");
        }
        assert_eq!(parse_time("today", NOW).unwrap(), 1_795_824_000_000_000);
        assert_eq!(parse_time("Yesterday", NOW).unwrap(), 1_795_824_000_000_000 - MICROS_PER_DAY);
        let error = parse_time("yesterdays", NOW).unwrap_err().to_string();
        assert_eq!(error, format!("not a time: expected {TIME_FORMS}"));
        // Later than now: said, not answered with an empty window; a time
        // of day alone is also named as yesterday's, as it is typed.
        let error = resolve(&["--since", "11:00", "--store", "x"]).unwrap_err().to_string();
        assert_eq!(
            error,
            "--since 2026-11-28 11:00:00 UTC is later than now (2026-11-28 10:00:00 UTC): \
             nothing can have been recorded yet; yesterday's is --since 'yesterday 11:00' (a \
             time without an offset is UTC; give a local one with its offset, such as \
             2026-11-28T10:00+01:00)"
        );
        let settings = resolve(&["--since", "yesterday 11:00", "--store", "x"]).unwrap();
        assert_eq!(settings.query.since, Some(NINE + 2 * 3_600_000_000 - MICROS_PER_DAY));
        let error = resolve(&["--since", "2026-11-29", "--store", "x"]).unwrap_err().to_string();
        assert!(!error.contains("yesterday"), "{error}");
        assert!(resolve(&["--since", "2027-01-01", "--store", "x"]).is_err());
        assert!(resolve(&["--since", "10:00", "--until", "tomorrow", "--store", "x"]).is_err());
        let settings = resolve(&["--since", "yesterday", "--until", "09:00", "--store", "x"]);
        assert_eq!(settings.unwrap().query.until, Some(NINE));
    }

    /// "Last night" and "until now", as `date -d` takes them: a time of day
    /// after (or before) `today` or `yesterday` is on that UTC day, offset
    /// and all; `now` is now.
    #[test]
    fn times_of_day_on_a_named_day_and_now() {
        const NINE: UnixMicros = 1_795_856_400_000_000; // 2026-11-28 09:00:00 UTC
        const HOUR: UnixMicros = 3_600_000_000;
        for (typed, expected) in [
            ("yesterday 22:00", NINE + 13 * HOUR - MICROS_PER_DAY),
            ("Yesterday  22:00:30", NINE + 13 * HOUR + 30_000_000 - MICROS_PER_DAY),
            ("22:00 yesterday", NINE + 13 * HOUR - MICROS_PER_DAY),
            ("yesterday 23:00+01:00", NINE + 13 * HOUR - MICROS_PER_DAY),
            ("today 09:00", NINE),
            ("09:00Z today", NINE),
            ("now", NOW),
            ("NOW", NOW),
        ] {
            assert_eq!(parse_time(typed, NOW).unwrap(), expected, "{typed}");
        }
        for bad in [
            "yesterday 25:00",
            "yesterday yesterday",
            "today 2h",
            "tomorrow 09:00",
            "yesterday 09:00 today",
            "last night",
        ] {
            let error = parse_time(bad, NOW).unwrap_err().to_string();
            assert!(error.contains(TIME_FORMS) || error.contains("no such time"), "{bad}: {error}");
        }
        // A span with something wrong in it keeps what is wrong, then the
        // other forms.
        let error = parse_time("2 hours", NOW).unwrap_err().to_string();
        assert!(error.starts_with("unknown unit \"hours\""), "{error}");
        assert!(error.ends_with(&format!("; or give another time: {TIME_FORMS}")), "{error}");
        let settings = resolve(&["--since", "yesterday 22:00", "--until", "now", "--store", "x"]);
        assert_eq!(settings.unwrap().query.until, Some(NOW));
    }

    /// Unix seconds come with their `@`, as GNU `date -d` takes them; a
    /// bare one was read as a span of 56 years, a window from 1970.
    #[test]
    fn unix_times_and_lower_case_rfc3339() {
        assert_eq!(parse_time("@1795856400", NOW).unwrap(), 1_795_856_400_000_000);
        assert_eq!(parse_time("@0", NOW).unwrap(), 0);
        let error = parse_time("1795856400", NOW).unwrap_err().to_string();
        assert!(error.contains("write it as @1795856400"), "{error}");
        for bad in ["@", "@x", "@-5", "@+5", "@1.5", "@99999999999999999999"] {
            assert!(parse_time(bad, NOW).is_err(), "{bad}");
        }
        // Past 9999, as a written date stops: a number that is Unix
        // seconds says so rather than that it is none.
        assert_eq!(parse_time("@253402300799", NOW).unwrap(), 253_402_300_799_000_000);
        for late in ["@253402300800", "@999999999999", "@99999999999999999999"] {
            let error = parse_time(late, NOW).unwrap_err().to_string();
            assert!(error.contains("after the year 9999"), "{late}: {error}");
        }
        // Spans in seconds below the look-alikes stay spans.
        assert_eq!(parse_time("86400", NOW).unwrap(), NOW - 86_400_000_000);
        assert_eq!(parse_time("2026-11-28t09:00:00z", NOW).unwrap(), 1_795_856_400_000_000);
        assert_eq!(parse_time("2026-11-28t10:00+01:00", NOW).unwrap(), 1_795_856_400_000_000);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("0").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn arguments_resolve() {
        let settings =
            resolve(&["127.0.0.1:5432", "--since", "1h", "--store", "/tmp/h.sqlite"]).unwrap();
        assert_eq!(settings.query.port, Some(5432));
        assert_eq!(
            settings.query.addresses,
            vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(settings.query.since, Some(NOW - 3_600_000_000));
        assert_eq!(settings.location, StoreLocation::Sqlite("/tmp/h.sqlite".into()));
        assert!(settings.sections.listeners && settings.sections.connections);
        let settings = resolve(&["--listeners", "--json", "--store", "x"]).unwrap();
        assert!(!settings.sections.connections);
        assert_eq!(settings.format, Format::Json);
        let error = resolve(&["--since", "1h", "--until", "2h", "--store", "x"]).unwrap_err();
        assert!(error.to_string().contains("before"), "{error}");
        assert!(resolve(&["70000", "--store", "x"]).is_err());
        assert!(resolve(&["--each", "--limit", "0", "--store", "x"]).is_err());
        let settings = resolve(&["[fe80::1%1]:80", "--store", "x"]).unwrap();
        assert_eq!(settings.query.addresses, vec!["fe80::1".parse::<std::net::IpAddr>().unwrap()]);
        let settings = resolve(&["[::ffff:127.0.0.1]:80", "--store", "x"]).unwrap();
        assert_eq!(
            settings.query.addresses,
            vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        for (typed, path) in
            [("unix:/run/app.sock", "/run/app.sock"), ("unix:@abstract", "@abstract")]
        {
            let settings = resolve(&[typed, "--store", "x"]).unwrap();
            assert_eq!(settings.query.path.as_deref(), Some(path));
            assert_eq!(settings.query.protocol, Some(Protocol::Unix));
            assert_eq!(settings.query.port, None);
        }
        // A bare path is no port; the error gives the spelling `wait` takes.
        for path in ["/run/app.sock", "@abstract", "./app.sock"] {
            let error = resolve(&[path, "--store", "x"]).unwrap_err().to_string();
            assert!(error.contains(&format!("unix:{path}")), "{path}: {error}");
        }
        assert!(resolve(&["unix:", "--store", "x"]).is_err());
        for (typed, protocol) in [
            ("5353/udp", Protocol::Udp),
            ("127.0.0.1:80/TCP", Protocol::Tcp),
            // The transport first, as `lsof -i UDP:5353` writes it.
            ("udp:5353", Protocol::Udp),
            ("TCP:127.0.0.1:80", Protocol::Tcp),
        ] {
            let settings = resolve(&[typed, "--store", "x"]).unwrap();
            assert_eq!(settings.query.protocol, Some(protocol), "{typed}");
            assert!(settings.query.port.is_some(), "{typed}");
        }
        assert!(resolve(&["53/sctp", "--store", "x"]).is_err());
        // "All of them", in any size the stores can take.
        for huge in ["18446744073709551615", "99999999999999999999999999"] {
            let settings = resolve(&["--each", "--limit", huge, "--store", "x"]).unwrap();
            assert_eq!(settings.query.limit, i64::MAX as usize - 1);
        }
    }

    /// Clients are counted per program unless `--by process` asks for one
    /// line per process; any other grouping is refused by clap.
    #[test]
    fn clients_are_grouped_per_program_by_default() {
        let settings = resolve(&["5432", "--store", "x"]).unwrap();
        assert_eq!(settings.query.grouping, ClientGrouping::Program);
        let settings = resolve(&["5432", "--by", "process", "--store", "x"]).unwrap();
        assert_eq!(settings.query.grouping, ClientGrouping::Process);
        let cli = crate::cli::Cli::try_parse_from(["porthole", "history", "--by", "user"]);
        assert!(cli.is_err());
    }
}
