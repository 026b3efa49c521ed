//! Ports `porthole free` handed out moments ago, shared between runs.
//!
//! Without `--hold` nothing is bound between `free` and the caller's own
//! bind, so two runs at the same moment (a test runner's workers asking for
//! the same `--prefer` port) saw the same free port and printed it twice.
//! Each run now takes an exclusive lock on a small record, passes over the
//! ports another run handed out in the last [`WINDOW`] (unless they were
//! for the same `--name`, which is meant to give the same port), and adds
//! its own before it lets go. The lock is held for the search only
//! (milliseconds).
//!
//! The record is per user: `$XDG_RUNTIME_DIR/porthole/free-recent`, else
//! `/run/porthole/free-recent` for root, else a `porthole-UID` directory
//! in the temporary directory that must be this user's and private. Entries
//! name the network namespace they were handed out in (by its cookie, which
//! no later namespace reuses, unlike its inode): a port is free in one
//! namespace independently of the others.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a handed-out port is kept from other runs: long enough for a
/// caller to start its server (get-port keeps its own for 15 s too).
pub const WINDOW: Duration = Duration::from_secs(15);

/// How long a run waits for another run's lock before going on without the
/// record (a run holds it for milliseconds; a stopped one could forever).
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// One port another run handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOut {
    pub pid: u32,
    /// When, in milliseconds since the epoch.
    pub at_ms: u64,
    /// The `--name` it was handed out for.
    pub name: Option<String>,
}

/// Why the record could not be used (the search goes on without it).
#[derive(Debug, thiserror::Error)]
pub enum RecentError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not this user's private directory (owner uid {owner}, mode {mode:o})")]
    NotPrivate { path: PathBuf, owner: u32, mode: u32 },
    #[error("{path} is locked by another porthole free for over {seconds} s")]
    Busy { path: PathBuf, seconds: u64 },
}

/// The locked record: read at [`Recent::open`], written by
/// [`Recent::record`]; the lock goes with the value.
#[derive(Debug)]
pub struct Recent {
    file: std::fs::File,
    path: PathBuf,
    namespace: u64,
    /// Live entries of every namespace: (namespace, port) → hand-out.
    entries: BTreeMap<(u64, u16), HandOut>,
}

impl Recent {
    /// Opens and locks the record of this user, for network namespace
    /// `namespace` (its identity: `inventory::namespaces::own_identity`).
    pub fn open(namespace: u64) -> Result<Self, RecentError> {
        Self::open_in(&default_directory()?, namespace)
    }

    /// Opens and locks the record in `directory` (created private).
    pub fn open_in(directory: &Path, namespace: u64) -> Result<Self, RecentError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RecentError::Io { path, source }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(directory)
            .map_err(io(directory))?;
        let path = directory.join("free-recent");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io(&path))?;
        lock(&file, &path)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io(&path))?;
        let now = now_ms();
        let entries = parse(&text)
            .into_iter()
            .filter(|(_, hand_out)| now.saturating_sub(hand_out.at_ms) < WINDOW.as_millis() as u64)
            .collect();
        Ok(Recent { file, path, namespace, entries })
    }

    /// Another run's live hand-out of `port` in this namespace.
    pub fn handed_out(&self, port: u16) -> Option<&HandOut> {
        self.entries.get(&(self.namespace, port))
    }

    /// The live hand-outs of this namespace, for [`super::Conditions`].
    pub fn of_this_namespace(&self) -> BTreeMap<u16, HandOut> {
        self.entries
            .iter()
            .filter(|((namespace, _), _)| *namespace == self.namespace)
            .map(|((_, port), hand_out)| (*port, hand_out.clone()))
            .collect()
    }

    /// Adds `ports` as handed out now by this process, and writes the
    /// record (expired entries dropped). The lock is released on drop.
    pub fn record(mut self, ports: &[u16], name: Option<&str>) -> Result<(), RecentError> {
        let hand_out =
            HandOut { pid: std::process::id(), at_ms: now_ms(), name: name.map(str::to_string) };
        for &port in ports {
            self.entries.insert((self.namespace, port), hand_out.clone());
        }
        let text = render(&self.entries);
        let io = |source| RecentError::Io { path: self.path.clone(), source };
        self.file.set_len(0).map_err(io)?;
        self.file.rewind().map_err(io)?;
        self.file.write_all(text.as_bytes()).map_err(io)?;
        Ok(())
    }
}

/// Where this user's record lives.
fn default_directory() -> Result<PathBuf, RecentError> {
    if let Some(runtime) =
        std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_absolute())
    {
        return Ok(PathBuf::from(runtime).join("porthole"));
    }
    let uid = rustix::process::geteuid().as_raw();
    if uid == 0 {
        return Ok(PathBuf::from("/run/porthole"));
    }
    // A shared temporary directory: the directory must be ours and private,
    // or another user could read the record or plant a link there.
    let directory = std::env::temp_dir().join(format!("porthole-{uid}"));
    match std::fs::symlink_metadata(&directory) {
        Ok(meta) if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 => {
            Err(RecentError::NotPrivate {
                path: directory,
                owner: meta.uid(),
                mode: meta.mode() & 0o7777,
            })
        }
        _ => Ok(directory),
    }
}

/// Takes the exclusive lock, waiting up to [`LOCK_WAIT`].
fn lock(file: &std::fs::File, path: &Path) -> Result<(), RecentError> {
    use rustix::fs::{flock, FlockOperation};
    let started = std::time::Instant::now();
    loop {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(RecentError::Busy {
                    path: path.to_path_buf(),
                    seconds: LOCK_WAIT.as_secs(),
                })
            }
            Err(error) => {
                return Err(RecentError::Io { path: path.to_path_buf(), source: error.into() })
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Lines of `NAMESPACE PORT AT_MS PID [NAME]`, the name hex-encoded (it may
/// hold any byte but NUL); lines that do not parse are dropped.
fn parse(text: &str) -> BTreeMap<(u64, u16), HandOut> {
    let mut entries = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(namespace), Some(port), Some(at_ms), Some(pid)) = (
            fields.first().and_then(|f| f.parse().ok()),
            fields.get(1).and_then(|f| f.parse().ok()),
            fields.get(2).and_then(|f| f.parse().ok()),
            fields.get(3).and_then(|f| f.parse().ok()),
        ) else {
            continue;
        };
        let name = match fields.get(4) {
            Some(hex) => match decode_hex(hex) {
                Some(name) => Some(name),
                None => continue,
            },
            None => None,
        };
        entries.insert((namespace, port), HandOut { pid, at_ms, name });
    }
    entries
}

fn render(entries: &BTreeMap<(u64, u16), HandOut>) -> String {
    let mut text = String::new();
    for ((namespace, port), hand_out) in entries {
        text.push_str(&format!("{namespace} {port} {} {}", hand_out.at_ms, hand_out.pid));
        if let Some(name) = &hand_out.name {
            text.push(' ');
            text.extend(name.bytes().map(|b| format!("{b:02x}")));
        }
        text.push('\n');
    }
    text
}

fn decode_hex(hex: &str) -> Option<String> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_out_is_seen_by_the_next_run_of_the_same_namespace_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = Recent::open_in(dir.path(), 7).unwrap();
        assert_eq!(first.handed_out(20001), None);
        first.record(&[20001, 20002], Some("my project")).unwrap();
        let second = Recent::open_in(dir.path(), 7).unwrap();
        let hand_out = second.handed_out(20002).expect("recorded");
        assert_eq!(hand_out.pid, std::process::id());
        assert_eq!(hand_out.name.as_deref(), Some("my project"));
        assert_eq!(second.of_this_namespace().len(), 2);
        drop(second);
        let other = Recent::open_in(dir.path(), 8).unwrap();
        assert_eq!(other.handed_out(20001), None, "another namespace's ports are its own");
    }

    #[test]
    fn expired_and_damaged_lines_are_dropped() {
        let old = now_ms() - WINDOW.as_millis() as u64 - 1;
        let text = format!("7 20001 {old} 1\n7 20002 {} 2\ngarbage\n7 20003 1 1 zz\n", now_ms());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("free-recent"), text).unwrap();
        let recent = Recent::open_in(dir.path(), 7).unwrap();
        assert_eq!(recent.of_this_namespace().keys().copied().collect::<Vec<_>>(), [20002]);
    }

    #[test]
    fn a_second_run_waits_for_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = Recent::open_in(dir.path(), 7).unwrap();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            Recent::open_in(&path, 7).map(|r| r.handed_out(20009).is_some())
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished(), "the lock is exclusive");
        held.record(&[20009], None).unwrap();
        assert!(waiter.join().unwrap().unwrap(), "it reads what the first run wrote");
    }
}
