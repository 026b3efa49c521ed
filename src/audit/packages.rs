//! Pending package updates of listening services (`outdated-package`), the
//! Debian way: which package owns each owner process's executable and the
//! shared libraries it maps (`dpkg-query -S`), and what `apt-cache policy`
//! says about those packages — installed version, candidate version, and
//! the suite the candidate comes from (`bookworm-security` marks a security
//! update).
//!
//! Only local files are read and only query commands run, each bounded by
//! [`COMMAND_TIMEOUT`]; nothing is downloaded (`apt-get update` is the
//! user's business) — instead the report says how old the package lists
//! are. The dpkg database and the lists are the ones apt is configured
//! with (`apt-config`), so `APT_CONFIG` pointing at a private
//! configuration moves both.
//!
//! Files dpkg does not own are asked of rpm and dnf ([`super::rpm`]), so a
//! machine is checked by the package database it has.
//!
//! Processes inside containers are skipped: their paths belong to another
//! root, whose packages the host's dpkg does not know.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Target;
use crate::inventory::system::System;

/// Bound of each `apt-config`, `dpkg-query` and `apt-cache` run. Building
/// apt's cache from the lists takes seconds where no `pkgcache.bin` is kept
/// (container images).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Package lists older than this are called stale in the report.
pub const STALE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// The package manager an update comes from; it names the fix command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Manager {
    /// dpkg and apt (`apt-get install --only-upgrade`).
    #[default]
    Apt,
    /// rpm and dnf (`dnf upgrade`).
    Dnf,
}

/// One package with an update that is not installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageUpdate {
    pub package: String,
    pub installed: String,
    pub candidate: String,
    /// Suite (or archive path) the candidate comes from.
    pub suite: String,
    /// The candidate comes from a security suite (apt) or a security
    /// advisory covers it (dnf).
    pub security: bool,
    pub manager: Manager,
}

/// What the package check found for one listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPackages {
    /// The owner whose executable was looked up.
    pub pid: Option<u32>,
    /// Package of the executable (known even when up to date).
    pub exe_package: Option<String>,
    /// The executable's package, when it has an update.
    pub exe_update: Option<PackageUpdate>,
    /// Packages of mapped libraries with updates (the executable's own
    /// package excluded).
    pub library_updates: Vec<PackageUpdate>,
    /// A runtime no package owns: its stated version and support status.
    pub runtime: Option<super::runtimes::RuntimeStatus>,
}

/// The state of apt's package lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListsState {
    pub directory: Option<PathBuf>,
    /// Age of the newest list file; `None` when there is none.
    pub age: Option<Duration>,
}

/// The package check over all listeners.
#[derive(Debug, Clone, Default)]
pub struct PackageCheck {
    /// One entry per target, in target order.
    pub targets: Vec<TargetPackages>,
    pub lists: ListsState,
    /// dnf's metadata cache, when rpm owns some of the files.
    pub dnf_cache: Option<ListsState>,
    /// Why the check could not run (no dpkg/apt nor rpm, a command failed).
    pub note: Option<String>,
    /// The check ran (with apt and dpkg, or with rpm).
    pub ran: bool,
    /// apt and dpkg answered.
    pub apt_ran: bool,
}

/// Runs the check for `targets`.
pub fn check(system: &dyn System, targets: &[Target]) -> PackageCheck {
    let mut result = PackageCheck {
        targets: vec![TargetPackages::default(); targets.len()],
        ..Default::default()
    };
    // Executables and libraries of every owner, once per pid.
    let mut files_of: BTreeMap<u32, (Option<String>, Vec<String>)> = BTreeMap::new();
    for target in targets {
        for owner in &target.owners {
            if owner.container.is_some() || files_of.contains_key(&owner.pid) {
                continue;
            }
            let libraries = mapped_files(system, owner.pid);
            files_of.insert(owner.pid, (owner.exe.clone(), libraries));
        }
    }
    let mut paths: BTreeSet<String> = BTreeSet::new();
    for (exe, libraries) in files_of.values() {
        paths.extend(exe.iter().flat_map(|p| path_variants(p)));
        paths.extend(libraries.iter().flat_map(|p| path_variants(p)));
    }

    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let mut updates: BTreeMap<String, PackageUpdate> = BTreeMap::new();
    let apt_error = match debian(system, &paths) {
        Ok(found) => {
            result.lists = found.lists;
            owners = found.owners;
            updates = found.updates;
            result.apt_ran = true;
            None
        }
        Err(error) => Some(error),
    };
    // What dpkg does not own (all of it on an rpm machine), rpm may.
    let unowned: Vec<String> = files_of
        .values()
        .flat_map(|(exe, libraries)| exe.iter().chain(libraries))
        .filter(|path| !path_variants(path).iter().any(|p| owners.contains_key(p)))
        .cloned()
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect();
    let rpm_error = if unowned.is_empty() {
        None
    } else {
        match super::rpm::check(system, &unowned) {
            Ok(Some(found)) => {
                owners.extend(found.owners);
                updates.extend(found.updates);
                result.dnf_cache = Some(found.cache);
                None
            }
            Ok(None) => None,
            Err(error) => Some(error),
        }
    };
    if !result.apt_ran && result.dnf_cache.is_none() {
        // Neither database answered; a machine without rpm says why apt
        // did not.
        if let Some(error) = apt_error.or(rpm_error) {
            result.note = Some(format!("package check skipped: {error}"));
            return result;
        }
    }
    result.ran = true;
    let package_of = |path: &str| path_variants(path).iter().find_map(|p| owners.get(p).cloned());
    let update_of = |package: &str| updates.get(base_name(package)).cloned();

    // The packages belong to the process, not to each of its sockets: one
    // entry per process (its first listener), so memcached on TCP and UDP
    // gets one finding.
    let mut reported: BTreeSet<u32> = BTreeSet::new();
    let mut order: Vec<usize> = (0..targets.len()).collect();
    order.sort_by_key(|&index| targets[index].protocol != crate::model::Protocol::Tcp);
    for index in order {
        let target = &targets[index];
        let Some((pid, (exe, libraries))) =
            target.owners.iter().find_map(|o| files_of.get(&o.pid).map(|f| (o.pid, f)))
        else {
            continue;
        };
        if !reported.insert(pid) {
            continue;
        }
        let entry = &mut result.targets[index];
        entry.pid = Some(pid);
        entry.exe_package = exe.as_deref().and_then(package_of);
        entry.exe_update = entry.exe_package.as_deref().and_then(update_of);
        if entry.exe_package.is_none() {
            entry.runtime = exe.as_deref().and_then(|path| unpackaged_runtime(system, path));
        }
        let mut seen: BTreeSet<String> = entry.exe_package.iter().cloned().collect();
        for library in libraries {
            let Some(package) = package_of(library) else { continue };
            if !seen.insert(base_name(&package).to_string()) {
                continue;
            }
            if let Some(update) = update_of(&package) {
                entry.library_updates.push(update);
            }
        }
        entry
            .library_updates
            .sort_by(|a, b| b.security.cmp(&a.security).then(a.package.cmp(&b.package)));
    }
    result
}

/// What dpkg and apt said about a set of paths.
struct DebianAnswers {
    /// Path → package (`libssl3:amd64`).
    owners: BTreeMap<String, String>,
    /// Package base name → its update.
    updates: BTreeMap<String, PackageUpdate>,
    lists: ListsState,
}

/// Asks dpkg which package owns each path and apt what it offers for
/// them. `Err`: apt or dpkg did not answer (not a Debian machine).
fn debian(system: &dyn System, paths: &BTreeSet<String>) -> Result<DebianAnswers, String> {
    let text = system.query(
        "apt-config",
        &["shell", "STATUS", "Dir::State::status/f", "LISTS", "Dir::State::lists/d"],
        &[0],
        COMMAND_TIMEOUT,
    )?;
    let (Some(status), Some(lists)) = parse_apt_config_shell(&text) else {
        return Err("apt-config gave no dpkg status or lists path".into());
    };
    let lists = ListsState { age: lists_age(system, &lists), directory: Some(lists.into()) };
    let admindir = Path::new(&status).parent().map(Path::to_path_buf).unwrap_or_default();
    let owners = if paths.is_empty() {
        BTreeMap::new()
    } else {
        let mut arguments = vec![format!("--admindir={}", admindir.display()), "-S".to_string()];
        arguments.extend(paths.iter().cloned());
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        // dpkg-query exits 1 when some path has no package: still an answer.
        parse_dpkg_search(&system.query("dpkg-query", &arguments, &[0, 1], COMMAND_TIMEOUT)?)
    };
    let packages: BTreeSet<String> = owners.values().cloned().collect();
    let policies = if packages.is_empty() {
        Vec::new()
    } else {
        let mut arguments = vec!["policy".to_string()];
        arguments.extend(packages.iter().cloned());
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        parse_policy(&system.query("apt-cache", &arguments, &[0], COMMAND_TIMEOUT)?)
    };
    let updates = policies
        .iter()
        .filter_map(|policy| Some((base_name(&policy.package).to_string(), policy.update()?)))
        .collect();
    Ok(DebianAnswers { owners, updates, lists })
}

/// Bound of a runtime's `--version`.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// The stated version of an executable no package owns, if it is a
/// runtime porthole knows (`node --version`, `python3 --version`).
///
/// Running a binary found listening is only safe within limits: never one
/// that group or others may write, never as root when another user owns
/// it (it then runs as that user, through `setpriv`), always with an empty
/// environment (`NODE_OPTIONS=--require …` would run code), and only with
/// `--version`, which neither runtime follows with the service's code.
fn unpackaged_runtime(system: &dyn System, path: &str) -> Option<super::runtimes::RuntimeStatus> {
    let runtime = super::runtimes::Runtime::of_executable(path)?;
    let metadata = system.file_status(path)?;
    if metadata.mode & 0o022 != 0 || !metadata.is_file {
        return None;
    }
    let as_root = rustix::process::geteuid().is_root();
    let output = if as_root && metadata.uid != 0 {
        let user = format!("--reuid={}", metadata.uid);
        let group = format!("--regid={}", metadata.gid);
        system.query(
            "setpriv",
            &[&user, &group, "--clear-groups", "--", path, "--version"],
            &[0],
            VERSION_TIMEOUT,
        )
    } else {
        system.query(path, &["--version"], &[0], VERSION_TIMEOUT)
    }
    .ok()?;
    let today = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .ok()?;
    super::runtimes::judge(runtime, path, &output, today)
}

/// `libssl3:amd64` → `libssl3`.
fn base_name(package: &str) -> &str {
    package.split(':').next().unwrap_or(package)
}

/// The path and its merged-/usr twin: Debian packages may list
/// `/lib/x86_64-linux-gnu/libc.so.6` while the kernel reports
/// `/usr/lib/…` (and the other way round).
pub fn path_variants(path: &str) -> Vec<String> {
    let mut variants = vec![path.to_string()];
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        if let Some(rest) = path.strip_prefix(&format!("/usr/{top}/")) {
            variants.push(format!("/{top}/{rest}"));
        } else if let Some(rest) = path.strip_prefix(&format!("/{top}/")) {
            variants.push(format!("/usr/{top}/{rest}"));
        }
    }
    variants
}

/// Executable file mappings of `pid` (shared libraries), from
/// `/proc/PID/maps`; empty when unreadable (another user's process
/// without root).
fn mapped_files(system: &dyn System, pid: u32) -> Vec<String> {
    let Some(text) = system.read_text(&format!("/proc/{pid}/maps")) else { return Vec::new() };
    let mut files: Vec<String> = text
        .lines()
        .filter_map(super::restart::parse_maps_line)
        .filter(|m| m.executable && m.inode != 0 && m.path.starts_with('/') && !m.deleted)
        .map(|m| m.path)
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Parses `apt-config shell STATUS … LISTS …`: `STATUS='/var/lib/dpkg/status'`.
pub fn parse_apt_config_shell(text: &str) -> (Option<String>, Option<String>) {
    let value = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix('=')?;
            Some(rest.trim().trim_matches('\'').to_string()).filter(|v| !v.is_empty())
        })
    };
    (value("STATUS"), value("LISTS"))
}

/// Parses `dpkg-query -S` output: `pkg[:arch][, pkg2]: /path` → path → the
/// first package. `diversion by …` lines are skipped.
pub fn parse_dpkg_search(text: &str) -> BTreeMap<String, String> {
    let mut owners = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("diversion by") || line.starts_with("local diversion") {
            continue;
        }
        let Some((packages, path)) = line.split_once(": ") else { continue };
        let Some(first) = packages.split(", ").next() else { continue };
        owners.entry(path.trim().to_string()).or_insert_with(|| first.trim().to_string());
    }
    owners
}

/// One package's section of `apt-cache policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub package: String,
    pub installed: Option<String>,
    pub candidate: Option<String>,
    /// Source lines of each version in the version table.
    pub versions: Vec<(String, Vec<String>)>,
}

impl Policy {
    /// The update this policy describes: a candidate newer than the
    /// installed version.
    pub fn update(&self) -> Option<PackageUpdate> {
        let installed = self.installed.as_deref()?;
        let candidate = self.candidate.as_deref()?;
        if compare_versions(candidate, installed) != std::cmp::Ordering::Greater {
            return None;
        }
        let sources = self
            .versions
            .iter()
            .find(|(version, _)| version == candidate)
            .map(|(_, sources)| sources.as_slice())
            .unwrap_or_default();
        let suites: Vec<String> = sources.iter().filter_map(|s| source_suite(s)).collect();
        let security = suites.iter().any(|s| is_security_suite(s));
        let suite = suites
            .iter()
            .find(|s| is_security_suite(s))
            .or(suites.first())
            .cloned()
            .unwrap_or_else(|| "the package lists".into());
        Some(PackageUpdate {
            package: base_name(&self.package).to_string(),
            installed: installed.to_string(),
            candidate: candidate.to_string(),
            suite,
            security,
            manager: Manager::Apt,
        })
    }
}

/// `500 http://deb.debian.org/debian-security bookworm-security/main amd64
/// Packages` → `bookworm-security`; a flat repository (`./`) gives its URI.
fn source_suite(line: &str) -> Option<String> {
    let mut fields = line.split_whitespace();
    let _priority = fields.next()?;
    let uri = fields.next()?;
    if uri.starts_with('/') {
        return None; // the dpkg status file
    }
    let dist = fields.next()?;
    let suite = dist.split('/').next().unwrap_or(dist);
    Some(if suite == "." || suite.is_empty() { uri.to_string() } else { suite.to_string() })
}

/// Debian and Ubuntu name their security suites `*-security` (Debian
/// before 11: `*/updates` on security.debian.org).
pub fn is_security_suite(suite: &str) -> bool {
    suite.ends_with("-security")
        || suite.contains("security.debian.org")
        || suite.ends_with("/updates")
}

/// Parses `apt-cache policy PKG…`.
pub fn parse_policy(text: &str) -> Vec<Policy> {
    let mut policies: Vec<Policy> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') {
            if let Some(name) = line.strip_suffix(':') {
                policies.push(Policy { package: name.trim().to_string(), ..Policy::default() });
            }
            continue;
        }
        let Some(policy) = policies.last_mut() else { continue };
        let trimmed = line.trim();
        let value = |v: &str| (v != "(none)").then(|| v.to_string());
        if let Some(rest) = trimmed.strip_prefix("Installed:") {
            policy.installed = value(rest.trim());
        } else if let Some(rest) = trimmed.strip_prefix("Candidate:") {
            policy.candidate = value(rest.trim());
        } else if trimmed.starts_with("Version table:") {
        } else if line.starts_with("     ") && !line.starts_with("        ")
            || trimmed.starts_with("***")
        {
            // A version line: ` *** 1.0-1 100` or `     1.1-1 500`.
            let version = trimmed.trim_start_matches("***").split_whitespace().next();
            if let Some(version) = version {
                policy.versions.push((version.to_string(), Vec::new()));
            }
        } else if let Some((_, sources)) = policy.versions.last_mut() {
            sources.push(trimmed.to_string());
        }
    }
    policies
}

/// Compares Debian versions (`epoch:upstream-revision`) as dpkg does.
/// See: <https://www.debian.org/doc/debian-policy/ch-controlfields.html#version>
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(version: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match version.split_once(':') {
            Some((epoch, rest)) => (epoch.parse().unwrap_or(0), rest),
            None => (0, version),
        };
        match rest.rsplit_once('-') {
            Some((upstream, revision)) => (epoch, upstream, revision),
            None => (epoch, rest, "0"),
        }
    }
    let (epoch_a, upstream_a, revision_a) = split(a);
    let (epoch_b, upstream_b, revision_b) = split(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| verrevcmp(upstream_a, upstream_b))
        .then_with(|| verrevcmp(revision_a, revision_b))
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs; `~` sorts
/// before everything, even the end of the string; letters before other
/// characters.
fn verrevcmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => i32::from(c),
            Some(c) => i32::from(c) + 256,
        }
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return std::cmp::Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return std::cmp::Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    std::cmp::Ordering::Equal
}

/// Age of the newest file in the lists directory (`Packages`, `Release`).
pub fn lists_age(system: &dyn System, directory: &str) -> Option<Duration> {
    let newest = system
        .directory_times(directory)?
        .into_iter()
        .filter(|(name, _)| name.contains("_Packages") || name.ends_with("Release"))
        .map(|(_, modified)| modified)
        .max()?;
    Some(SystemTime::now().duration_since(newest).unwrap_or_default())
}

/// `3 hours`, `2 days`.
pub fn describe_age(age: Duration) -> String {
    let plural =
        |count: u64, unit: &str| format!("{count} {unit}{}", if count == 1 { "" } else { "s" });
    let hours = age.as_secs() / 3600;
    match hours {
        0 => plural(age.as_secs() / 60, "minute"),
        1..=47 => plural(hours, "hour"),
        _ => plural(hours / 24, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    #[test]
    fn lists_age_is_that_of_the_newest_list() {
        let now = SystemTime::now();
        let hours = |count: u64| now - Duration::from_secs(count * 3600);
        let system = crate::inventory::system::fake::Scripted {
            directories: [(
                "/var/lib/apt/lists/".to_string(),
                vec![
                    (
                        "deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages".into(),
                        hours(30),
                    ),
                    ("deb.debian.org_debian_dists_trixie_InRelease".into(), hours(5)),
                    // Not a list: apt's lock and partial downloads are newer.
                    ("lock".into(), now),
                ],
            )]
            .into(),
            ..Default::default()
        };
        let age = lists_age(&system, "/var/lib/apt/lists/").expect("lists found");
        assert!((Duration::from_secs(5 * 3600)..Duration::from_secs(6 * 3600)).contains(&age));
        assert_eq!(lists_age(&system, "/nowhere/"), None);
    }

    #[test]
    fn debian_version_order() {
        assert_eq!(compare_versions("5:7.0.15-1~deb12u10", "5:7.0.15-1~deb12u7"), Greater);
        assert_eq!(compare_versions("1.0~rc1-1", "1.0-1"), Less);
        assert_eq!(compare_versions("1:0.9", "2.0"), Greater);
        assert_eq!(compare_versions("1.0-1", "1.0-1"), Equal);
        assert_eq!(compare_versions("1.0a", "1.0+"), Less);
        assert_eq!(compare_versions("1.10", "1.9"), Greater);
        assert_eq!(compare_versions("3.0.22-1~deb12u2", "3.0.19-1~deb12u2"), Greater);
        assert_eq!(compare_versions("1.0", "1.0-0"), Equal);
    }

    /// `apt-cache policy libssl3 redis-server` on Debian 12, November 2026.
    const POLICY: &str = "\
libssl3:
  Installed: 3.0.19-1~deb12u2
  Candidate: 3.0.22-1~deb12u2
  Version table:
     3.0.22-1~deb12u2 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
     3.0.20-1~deb12u2 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
 *** 3.0.19-1~deb12u2 100
        100 /var/lib/dpkg/status
redis-server:
  Installed: 5:7.0.15-1~deb12u10
  Candidate: 5:7.0.15-1~deb12u10
  Version table:
 *** 5:7.0.15-1~deb12u10 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
        100 /var/lib/dpkg/status
porthole-test:
  Installed: 1.0-1
  Candidate: 1.1-1
  Version table:
     1.1-1 500
        500 file:/tmp/repo ./ Packages
 *** 1.0-1 100
        100 /tmp/dpkg/status
";

    #[test]
    fn policy_gives_updates_and_their_suites() {
        let policies = parse_policy(POLICY);
        assert_eq!(policies.len(), 3);
        let ssl = policies[0].update().unwrap();
        assert_eq!(
            ssl,
            PackageUpdate {
                package: "libssl3".into(),
                installed: "3.0.19-1~deb12u2".into(),
                candidate: "3.0.22-1~deb12u2".into(),
                suite: "bookworm-security".into(),
                security: true,
                manager: Manager::Apt,
            }
        );
        assert_eq!(policies[1].update(), None, "up to date");
        let flat = policies[2].update().unwrap();
        assert_eq!((flat.suite.as_str(), flat.security), ("file:/tmp/repo", false));
    }

    #[test]
    fn dpkg_search_and_apt_config_output() {
        let owners = parse_dpkg_search(
            "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6\ndiversion by x from: /bin/sh\nredis-tools, redis-server: /usr/bin/redis-check-rdb\n",
        );
        assert_eq!(owners["/lib/x86_64-linux-gnu/libc.so.6"], "libc6:amd64");
        assert_eq!(owners["/usr/bin/redis-check-rdb"], "redis-tools");
        assert_eq!(owners.len(), 2);
        assert_eq!(
            parse_apt_config_shell("STATUS='/var/lib/dpkg/status'\nLISTS='/var/lib/apt/lists/'\n"),
            (Some("/var/lib/dpkg/status".into()), Some("/var/lib/apt/lists/".into()))
        );
        assert_eq!(
            path_variants("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"]
        );
        assert_eq!(path_variants("/opt/x/server"), ["/opt/x/server"]);
    }

    #[test]
    fn ages_read_as_words() {
        assert_eq!(describe_age(Duration::from_secs(600)), "10 minutes");
        assert_eq!(describe_age(Duration::from_secs(3700)), "1 hour");
        assert_eq!(describe_age(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(describe_age(Duration::from_secs(9 * 86400)), "9 days");
    }
}
