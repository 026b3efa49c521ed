//! Build script: records which source revision a binary was built from, so
//! `porthole --version` can say it (`porthole 0.1.0 (rev 1a2b3c4d5e6f)`).
//!
//! The revision comes from, in order:
//! 1. `PORTHOLE_BUILD_REVISION`, for packagers who build outside a checkout
//!    and know the revision (an empty value turns the suffix off);
//! 2. `git`, when the package directory is the top of a git checkout (or a
//!    worktree), with `-dirty` when tracked files differ from the commit;
//! 3. `.cargo_vcs_info.json`, which `cargo package` writes into the crate
//!    tarball (crates.io builds, `cargo publish --dry-run`);
//! 4. nothing: the version is then the plain package version.
//!
//! A missing `git`, a repository git refuses to read (another owner, see
//! `safe.directory`), a shallow clone or a tarball never fail the build.
//!
//! The script sets `PORTHOLE_VERSION` for the crate's `env!`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How many hex digits of the commit id to show: enough to be unique in any
/// repository of this size, short enough for a bug report.
const REVISION_DIGITS: usize = 12;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let package_version = std::env::var("CARGO_PKG_VERSION").expect("set by cargo");

    println!("cargo::rerun-if-env-changed=PORTHOLE_BUILD_REVISION");
    // Sources, not only git state: editing a file after a clean build must
    // turn the revision `-dirty` on the next build.
    for path in ["build.rs", "Cargo.toml", "Cargo.lock", "src"] {
        if manifest_dir.join(path).exists() {
            println!("cargo::rerun-if-changed={path}");
        }
    }

    let revision = match std::env::var("PORTHOLE_BUILD_REVISION") {
        Ok(value) => Some(value.trim().to_string()).filter(|value| !value.is_empty()),
        Err(_) => git_revision(&manifest_dir).or_else(|| vcs_info_revision(&manifest_dir)),
    };
    let version = match revision {
        Some(revision) => format!("{package_version} (rev {revision})"),
        None => package_version,
    };
    println!("cargo::rustc-env=PORTHOLE_VERSION={version}");
}

/// The checked-out commit, or `None` when the package is not the top of a
/// git checkout that git can read. Also asks cargo to rerun when HEAD moves.
fn git_revision(manifest_dir: &Path) -> Option<String> {
    // The crate inside a larger repository (`target/package/…` during
    // `cargo publish --dry-run`, a registry copy under a dotfiles repository)
    // must not borrow that repository's commit.
    let top = git(manifest_dir, &["rev-parse", "--show-toplevel"])?;
    if !same_directory(Path::new(&top), manifest_dir) {
        return None;
    }
    watch_head(manifest_dir);
    let commit = git(manifest_dir, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    let short: String = commit.chars().take(REVISION_DIGITS).collect();
    // Untracked files do not count: they are not part of the build unless
    // a tracked file refers to them, and that reference is then a change.
    let changes = git(manifest_dir, &["status", "--porcelain", "--untracked-files=no"])?;
    Some(if changes.is_empty() { short } else { format!("{short}-dirty") })
}

/// Reruns the build script when HEAD or the branch it points to moves, so a
/// commit without source changes still updates the revision. Paths come from
/// git because a worktree keeps HEAD and the branch refs in different places.
fn watch_head(manifest_dir: &Path) {
    let mut watched = vec![git(manifest_dir, &["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(manifest_dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(manifest_dir, &["rev-parse", "--git-path", &branch]));
        // A branch ref can live only in packed-refs (after `git gc`).
        watched.push(git(manifest_dir, &["rev-parse", "--git-path", "packed-refs"]));
    }
    for path in watched.into_iter().flatten() {
        let path = manifest_dir.join(path);
        // A path that does not exist would make cargo rerun on every build.
        if path.exists() {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }
}

/// The commit `cargo package` recorded in the tarball it built, with the
/// `-dirty` mark it records too.
fn vcs_info_revision(manifest_dir: &Path) -> Option<String> {
    let path = manifest_dir.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(path).ok()?;
    println!("cargo::rerun-if-changed=.cargo_vcs_info.json");
    // The file is small and machine-written: `"sha1": "<40 hex digits>"`
    // and optionally `"dirty": true`. A JSON parser would be a build
    // dependency for two fields.
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let start = after.find('"')? + 1;
    let sha1: String = after[start..].chars().take_while(char::is_ascii_hexdigit).collect();
    if sha1.len() < REVISION_DIGITS {
        return None;
    }
    let short = &sha1[..REVISION_DIGITS];
    let dirty = text.replace(char::is_whitespace, "").contains("\"dirty\":true");
    Some(if dirty { format!("{short}-dirty") } else { short.to_string() })
}

/// Runs `git ARGS…` in `dir`; its trimmed stdout on success, `None` on any
/// failure (no git, not a repository, refused ownership).
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8(output.stdout).ok()?.trim().to_string())
}

/// Whether two paths name the same directory (symlinks resolved).
fn same_directory(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
