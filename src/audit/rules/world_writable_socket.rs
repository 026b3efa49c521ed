//! `world-writable-socket`: the Unix socket of a root-equivalent API
//! (Docker, Podman, containerd, CRI-O, BuildKit, libvirt) has mode `o+w`,
//! so every local user can drive it — and through it, become root.

use super::Context;
use crate::model::{Finding, RuleId, Severity};

/// File names of sockets whose API can start privileged containers or VMs.
const API_SOCKETS: &[&str] = &[
    "docker.sock",
    "podman.sock",
    "containerd.sock",
    "crio.sock",
    "buildkitd.sock",
    "libvirt-sock",
];

pub fn is_api_socket(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    API_SOCKETS.contains(&name)
}

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    let Some(file) = &context.target.unix else { return Vec::new() };
    if !is_api_socket(&file.path) || file.mode & 0o002 == 0 {
        return Vec::new();
    }
    let root = context.runs_as_root() || file.uid == 0;
    let severity = if root { Severity::Critical } else { Severity::High };
    // In another mount namespace the path names another file (or none)
    // here: the evidence says where it was found, the fix reaches it so.
    let elsewhere = if file.reached_at != file.path {
        format!(" (in its owner's mount namespace, reached as {})", file.reached_at)
    } else {
        String::new()
    };
    let evidence = format!(
        "{}{elsewhere} has mode {:04o} (writable by every user){}",
        file.path,
        file.mode & 0o7777,
        if root { "; its daemon runs as root" } else { "" }
    );
    let fix = format!(
        "chmod 660 {path} and keep its group to trusted users (for dockerd: `\"group\": \"docker\"` in daemon.json, no chmod 666 in unit files)",
        path = crate::shell::word(&file.reached_at)
    );
    vec![context.finding(RuleId::WorldWritableSocket, severity, evidence, fix)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    #[test]
    fn only_api_sockets_with_other_write() {
        let mut target = target("/run/docker.sock", 0);
        target.unix = Some(socket_file("/run/docker.sock", 0o140666, 0, Default::default()));
        assert_eq!(check(&context(&target, None))[0].severity, Severity::Critical);
        target.unix = Some(socket_file("/run/docker.sock", 0o140660, 0, Default::default()));
        assert!(check(&context(&target, None)).is_empty());
        target.unix =
            Some(socket_file("/run/dbus/system_bus_socket", 0o140666, 0, Default::default()));
        assert!(check(&context(&target, None)).is_empty());
    }

    #[test]
    fn a_socket_path_with_shell_characters_is_one_word_in_the_fix() {
        let path = "/tmp/app dir/$(id)/docker.sock";
        let mut target = target(path, 0);
        target.unix = Some(socket_file(path, 0o140666, 0, Default::default()));
        let found = check(&context(&target, None));
        assert!(
            found[0].fix.starts_with("chmod 660 '/tmp/app dir/$(id)/docker.sock' and"),
            "{}",
            found[0].fix
        );
    }
}
