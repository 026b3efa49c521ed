//! Pending package updates, the rpm way, for `outdated-package`: which rpm
//! package owns each file (`rpm -qf`), which newer versions the local dnf
//! metadata cache offers (`dnf --cacheonly repoquery --upgrades`), and which
//! of those an advisory of type `security` covers (`dnf --cacheonly
//! updateinfo list --security`).
//!
//! [`super::packages`] calls it for the files dpkg does not own, so a
//! Fedora or RHEL machine is checked the rpm way and a Debian machine the
//! dpkg way, each by the database it has. As with apt, nothing is
//! downloaded (`--cacheonly`): the report says how old the cache is, from
//! the time dnf last refreshed each repository's `repomd.xml`.
//!
//! The databases are the ones rpm and dnf are configured with: rpm's
//! `%_dbpath` (on Debian's rpm, `~/.rpmdb`, which is why `HOME` reaches
//! these commands) and dnf's `/etc/dnf/dnf.conf`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::packages::{ListsState, Manager, PackageUpdate, COMMAND_TIMEOUT};
use crate::inventory::system::System;

/// `rpm -qf` with every file of each owning package, one per line, so the
/// answer names the path it belongs to (a path no package owns, or that
/// does not exist, gets no line of its own).
pub const OWNER_FORMAT: &str =
    "[%{FILENAMES}\\t%{=NAME}\\t%{=EPOCHNUM}\\t%{=VERSION}\\t%{=RELEASE}\\t%{=ARCH}\\n]";

/// `dnf repoquery` output: one candidate per line.
pub const CANDIDATE_FORMAT: &str =
    "%{name}\\t%{epoch}\\t%{version}\\t%{release}\\t%{arch}\\t%{repoid}";

/// An installed rpm package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    /// `[EPOCH:]VERSION-RELEASE`, the epoch only when it is not 0.
    pub version: String,
}

/// What rpm and dnf said about a set of paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmAnswers {
    /// Path → package name.
    pub owners: BTreeMap<String, String>,
    /// Package name → its update.
    pub updates: BTreeMap<String, PackageUpdate>,
    /// dnf's metadata cache: where it is and how old.
    pub cache: ListsState,
}

/// `EPOCH:VERSION-RELEASE` as rpm writes it, without a zero epoch.
fn evr(epoch: &str, version: &str, release: &str) -> String {
    match epoch {
        "" | "0" | "(none)" => format!("{version}-{release}"),
        epoch => format!("{epoch}:{version}-{release}"),
    }
}

/// Parses the [`OWNER_FORMAT`] answer, keeping the paths asked about.
pub fn parse_owners(text: &str, asked: &BTreeSet<&str>) -> BTreeMap<String, Installed> {
    let mut owners = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [path, name, epoch, version, release, _arch] = fields[..] else { continue };
        if asked.contains(path) {
            owners.entry(path.to_string()).or_insert_with(|| Installed {
                name: name.to_string(),
                version: evr(epoch, version, release),
            });
        }
    }
    owners
}

/// Parses [`CANDIDATE_FORMAT`] lines: name → (version, repository).
pub fn parse_candidates(text: &str) -> BTreeMap<String, (String, String)> {
    let mut candidates = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, epoch, version, release, _arch, repository] = fields[..] else { continue };
        candidates
            .entry(name.to_string())
            .or_insert_with(|| (evr(epoch, version, release), repository.to_string()));
    }
    candidates
}

/// Package names in `updateinfo list` lines (`ID TYPE NEVRA`): the NEVRA
/// `name-version-release.arch` loses its last three parts.
pub fn parse_advisories(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            let nevra = line.split_whitespace().nth(2)?;
            let (without_arch, _arch) = nevra.rsplit_once('.')?;
            let mut parts = without_arch.rsplitn(3, '-');
            let (_release, _version, name) = (parts.next()?, parts.next()?, parts.next()?);
            Some(name.to_string())
        })
        .collect()
}

/// The `cachedir: PATH` line of `dnf -v repolist`.
pub fn parse_cache_directory(text: &str) -> Option<String> {
    text.lines().find_map(|line| Some(line.strip_prefix("cachedir:")?.trim().to_string()))
}

/// Age of the newest `repomd.xml` under `cache`: dnf stamps it each time
/// it checks the repository, so this is its "last metadata expiration
/// check".
pub fn cache_age(cache: &Path) -> Option<Duration> {
    let newest = std::fs::read_dir(cache)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            entry.path().join("repodata/repomd.xml").metadata().ok()?.modified().ok()
        })
        .max()?;
    Some(SystemTime::now().duration_since(newest).unwrap_or_default())
}

/// Asks rpm which of `paths` it owns and dnf what it offers for those
/// packages. `Ok(None)`: rpm owns none of them. `Err`: rpm did not answer
/// (not installed, say).
pub fn check(system: &dyn System, paths: &[String]) -> Result<Option<RpmAnswers>, String> {
    let mut arguments = vec!["-q", "--qf", OWNER_FORMAT, "-f"];
    arguments.extend(paths.iter().map(String::as_str));
    // rpm's exit status counts the paths it could not answer for.
    let accepted: Vec<i32> = (0..=255).collect();
    let text = system.query("rpm", &arguments, &accepted, COMMAND_TIMEOUT)?;
    let asked: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
    let installed = parse_owners(&text, &asked);
    if installed.is_empty() {
        return Ok(None);
    }
    let mut answers = RpmAnswers {
        owners: installed.iter().map(|(path, p)| (path.clone(), p.name.clone())).collect(),
        ..RpmAnswers::default()
    };
    let directory = system
        .query("dnf", &["--cacheonly", "-v", "repolist"], &[0], COMMAND_TIMEOUT)
        .ok()
        .and_then(|text| parse_cache_directory(&text));
    answers.cache = ListsState {
        age: directory.as_deref().and_then(|d| cache_age(Path::new(d))),
        directory: directory.map(Into::into),
    };
    if answers.cache.age.is_none() {
        // No cache: dnf --cacheonly would only fail. The note says so.
        return Ok(Some(answers));
    }
    let names: BTreeSet<&str> = installed.values().map(|p| p.name.as_str()).collect();
    let mut arguments = vec![
        "--cacheonly",
        "-q",
        "repoquery",
        "--upgrades",
        "--latest-limit=1",
        "--qf",
        CANDIDATE_FORMAT,
        "--",
    ];
    arguments.extend(names.iter().copied());
    let candidates = parse_candidates(&system.query("dnf", &arguments, &[0], COMMAND_TIMEOUT)?);
    let security = if candidates.is_empty() {
        BTreeSet::new()
    } else {
        let mut arguments = vec!["--cacheonly", "-q", "updateinfo", "list", "--security", "--"];
        arguments.extend(candidates.keys().map(String::as_str));
        // A repository without updateinfo has no advisories: no answer is
        // no security mark, not a failed check.
        system
            .query("dnf", &arguments, &[0], COMMAND_TIMEOUT)
            .map(|text| parse_advisories(&text))
            .unwrap_or_default()
    };
    for package in installed.values() {
        let Some((candidate, repository)) = candidates.get(&package.name) else { continue };
        answers.updates.insert(
            package.name.clone(),
            PackageUpdate {
                package: package.name.clone(),
                installed: package.version.clone(),
                candidate: candidate.clone(),
                suite: repository.clone(),
                security: security.contains(&package.name),
                manager: Manager::Dnf,
            },
        );
    }
    Ok(Some(answers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_matched_by_path() {
        // `rpm -q --qf OWNER_FORMAT -f /usr/sbin/sshd /usr/lib64/libssl.so.3
        // /opt/none` on Fedora 40 (abridged): one line per file of each
        // owner, a "not owned" line for the third path.
        let text = "\
/usr/sbin/sshd\topenssh-server\t0\t9.6p1\t1.fc40.4\tx86_64
/usr/share/man/man8/sshd.8.gz\topenssh-server\t0\t9.6p1\t1.fc40.4\tx86_64
/usr/lib64/libssl.so.3\topenssl-libs\t1\t3.2.2\t3.fc40\tx86_64
file /opt/none is not owned by any package
";
        let asked: BTreeSet<&str> =
            ["/usr/sbin/sshd", "/usr/lib64/libssl.so.3", "/opt/none"].into_iter().collect();
        let owners = parse_owners(text, &asked);
        assert_eq!(owners.len(), 2);
        assert_eq!(
            owners["/usr/sbin/sshd"],
            Installed { name: "openssh-server".into(), version: "9.6p1-1.fc40.4".into() }
        );
        assert_eq!(owners["/usr/lib64/libssl.so.3"].version, "1:3.2.2-3.fc40");
    }

    #[test]
    fn candidates_advisories_and_cache_directory() {
        let candidates = parse_candidates(
            "openssl-libs\t1\t3.2.4\t1.fc40\tx86_64\tupdates\nbash\t0\t5.2.32\t1.fc40\tx86_64\tupdates\n",
        );
        assert_eq!(candidates["openssl-libs"], ("1:3.2.4-1.fc40".into(), "updates".into()));
        assert_eq!(candidates["bash"].0, "5.2.32-1.fc40");
        let advisories = parse_advisories(
            "FEDORA-2025-1b2c3d4e5f Important/Sec. openssl-libs-1:3.2.4-1.fc40.x86_64\nFEDORA-2025-aa Moderate/Sec. python3-urllib3-1.26.20-1.fc40.noarch\n",
        );
        assert_eq!(
            advisories,
            ["openssl-libs".to_string(), "python3-urllib3".to_string()].into_iter().collect()
        );
        assert_eq!(
            parse_cache_directory("DNF version: 4.14.0\ncachedir: /var/cache/dnf\nRepo-id : x\n"),
            Some("/var/cache/dnf".into())
        );
    }
}
