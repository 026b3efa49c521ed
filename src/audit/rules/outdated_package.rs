//! `outdated-package`: the package of the process serving the port — or of
//! a shared library it maps — has a newer version in the local package
//! lists that is not installed. A candidate from a security suite is a
//! known, published vulnerability in the running service: medium on
//! loopback, high when exposed. Other updates (point releases) are low.
//! The fix upgrades exactly those packages and restarts the service,
//! since the running process keeps the old code until then.
//!
//! A runtime that no package owns (a Node.js or Python from a tarball) gets
//! no update from any package manager; when the version it states is past
//! its upstream end of life ([`crate::audit::runtimes`]) it gets no
//! security fixes at all: medium on loopback, high when exposed.

use super::Context;
use crate::audit::packages::{describe_age, Manager, PackageUpdate};
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    let Some(packages) = context.packages else { return Vec::new() };
    let mut findings = Vec::new();
    if let Some(runtime) = packages.runtime.as_ref().filter(|r| r.past_end_of_life) {
        let severity = if context.exposed() { Severity::High } else { Severity::Medium };
        let evidence = format!(
            "{} {} at {} belongs to no package and is past its upstream end of life ({}, {}): it gets no more security fixes",
            runtime.runtime.name(),
            runtime.version,
            runtime.path,
            runtime.end_of_life.unwrap_or("unknown"),
            runtime.runtime.source()
        );
        let pid = packages.pid.or_else(|| context.target.owners.first().map(|p| p.pid));
        let mut fix = format!(
            "replace {} with a supported {} release (see {})",
            runtime.path,
            runtime.runtime.name(),
            runtime.runtime.source()
        );
        if let Some(pid) = pid {
            fix.push_str(&format!(", then {}", context.restart_fix(pid)));
        }
        let mut finding = context.finding(RuleId::OutdatedPackage, severity, evidence, fix);
        finding.pid = pid.or(finding.pid);
        findings.push(finding);
    }
    let updates: Vec<&PackageUpdate> =
        packages.exe_update.iter().chain(&packages.library_updates).collect();
    if updates.is_empty() {
        return findings;
    }
    let security = updates.iter().any(|u| u.security);
    let severity = match (security, context.exposed()) {
        (true, true) => Severity::High,
        (true, false) => Severity::Medium,
        (false, _) => Severity::Low,
    };
    let mut parts = Vec::new();
    if let Some(update) = &packages.exe_update {
        parts.push(format!(
            "{} {} is installed, {} is available from {}{}",
            update.package,
            update.installed,
            update.candidate,
            update.suite,
            if update.security { " (security update)" } else { "" }
        ));
    }
    if !packages.library_updates.is_empty() {
        let shown: Vec<String> = packages
            .library_updates
            .iter()
            .take(4)
            .map(|u| {
                format!(
                    "{} {} → {} ({}{})",
                    u.package,
                    u.installed,
                    u.candidate,
                    u.suite,
                    if u.security { ", security" } else { "" }
                )
            })
            .collect();
        let more = packages.library_updates.len().saturating_sub(4);
        let mut text = format!("mapped libraries with updates: {}", shown.join(", "));
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
        parts.push(text);
    }
    let mut evidence = parts.join("; ");
    let from = |manager: Manager| updates.iter().any(|u| u.manager == manager);
    if let Some(age) = context.package_lists_age.filter(|_| from(Manager::Apt)) {
        evidence.push_str(&format!("; package lists {} old", describe_age(age)));
    }
    if let Some(age) = context.dnf_cache_age.filter(|_| from(Manager::Dnf)) {
        evidence.push_str(&format!("; dnf metadata cache {} old", describe_age(age)));
    }
    let pid = packages.pid.or_else(|| context.target.owners.first().map(|p| p.pid));
    let restart = pid.map(|pid| context.restart_fix(pid));
    // One command per package manager (a Debian machine may run a service
    // installed from an rpm, with its libraries from Debian packages).
    let commands: Vec<String> = [Manager::Apt, Manager::Dnf]
        .into_iter()
        .filter_map(|manager| {
            let mut names: Vec<&str> = updates
                .iter()
                .filter(|u| u.manager == manager)
                .map(|u| u.package.as_str())
                .collect();
            names.dedup();
            if names.is_empty() {
                return None;
            }
            Some(match manager {
                Manager::Apt => format!("`apt-get install --only-upgrade {}`", names.join(" ")),
                Manager::Dnf => format!("`dnf upgrade {}`", names.join(" ")),
            })
        })
        .collect();
    let mut fix = commands.join(" and ");
    match restart.as_deref() {
        Some(command) if command.starts_with("systemctl ") => {
            fix.push_str(&format!(", then `{command}`"))
        }
        Some(other) => fix.push_str(&format!(", then {other}")),
        None => {}
    }
    let mut finding = context.finding(RuleId::OutdatedPackage, severity, evidence, fix);
    if pid.is_some() {
        finding.pid = pid;
    }
    findings.push(finding);
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::packages::TargetPackages;
    use crate::audit::rules::testing::*;

    fn update(package: &str, security: bool) -> PackageUpdate {
        PackageUpdate {
            package: package.into(),
            installed: "1.0-1".into(),
            candidate: "1.1-1".into(),
            suite: if security { "bookworm-security".into() } else { "bookworm".into() },
            security,
            manager: Manager::Apt,
        }
    }

    /// A Debian machine running a service installed from an rpm: one
    /// command per manager, and each cache's age.
    #[test]
    fn rpm_updates_name_dnf() {
        let local = target("127.0.0.1", 8080);
        let mixed = TargetPackages {
            pid: Some(42),
            exe_package: Some("myservice".into()),
            exe_update: Some(PackageUpdate {
                package: "myservice".into(),
                installed: "1.0-1".into(),
                candidate: "1:1.1-1".into(),
                suite: "internal".into(),
                security: true,
                manager: Manager::Dnf,
            }),
            library_updates: vec![update("libssl3", true)],
            runtime: None,
        };
        let mut ctx = context(&local, None);
        ctx.packages = Some(&mixed);
        ctx.package_lists_age = Some(std::time::Duration::from_secs(7200));
        ctx.dnf_cache_age = Some(std::time::Duration::from_secs(600));
        let finding = &check(&ctx)[0];
        assert_eq!(finding.severity, Severity::Medium);
        assert!(
            finding.evidence.starts_with(
                "myservice 1.0-1 is installed, 1:1.1-1 is available from internal (security update); mapped libraries"
            ),
            "{}",
            finding.evidence
        );
        assert!(
            finding
                .evidence
                .ends_with("; package lists 2 hours old; dnf metadata cache 10 minutes old"),
            "{}",
            finding.evidence
        );
        assert!(
            finding.fix.starts_with(
                "`apt-get install --only-upgrade libssl3` and `dnf upgrade myservice`, then restart pid 42"
            ),
            "{}",
            finding.fix
        );
    }

    #[test]
    fn security_updates_rank_above_other_updates() {
        let mut local = target("127.0.0.1", 6379);
        local.owners[0].unit = Some("redis-server.service".into());
        let security = TargetPackages {
            pid: Some(42),
            exe_package: Some("redis-server".into()),
            exe_update: Some(update("redis-server", true)),
            library_updates: vec![],
            runtime: None,
        };
        let mut ctx = context(&local, None);
        ctx.packages = Some(&security);
        ctx.package_lists_age = Some(std::time::Duration::from_secs(7200));
        let finding = &check(&ctx)[0];
        assert_eq!(finding.severity, Severity::Medium);
        assert_eq!(
            finding.evidence,
            "redis-server 1.0-1 is installed, 1.1-1 is available from bookworm-security (security update); package lists 2 hours old"
        );
        assert_eq!(
            finding.fix,
            "`apt-get install --only-upgrade redis-server`, then `systemctl restart redis-server.service`"
        );

        let normal =
            TargetPackages { exe_update: Some(update("redis-server", false)), ..security.clone() };
        ctx.packages = Some(&normal);
        assert_eq!(check(&ctx)[0].severity, Severity::Low);

        let exposed = target("0.0.0.0", 6379);
        let mut wide = context(&exposed, None);
        let with_library = TargetPackages {
            pid: Some(42),
            exe_package: Some("redis-server".into()),
            exe_update: None,
            library_updates: vec![update("libssl3", true)],
            runtime: None,
        };
        wide.packages = Some(&with_library);
        let finding = &check(&wide)[0];
        assert_eq!(finding.severity, Severity::High);
        assert!(finding.evidence.starts_with(
            "mapped libraries with updates: libssl3 1.0-1 → 1.1-1 (bookworm-security, security)"
        ));
        assert!(finding
            .fix
            .starts_with("`apt-get install --only-upgrade libssl3`, then restart pid 42"));
    }

    #[test]
    fn unpackaged_runtime_past_end_of_life() {
        use crate::audit::runtimes::{days_from_civil, judge, Runtime};
        let target = target("127.0.0.1", 3000);
        let today = days_from_civil("2026-11-28").unwrap();
        let status = TargetPackages {
            pid: Some(42),
            runtime: judge(Runtime::Node, "/opt/node-v20/bin/node", "v20.20.2", today),
            ..Default::default()
        };
        let mut ctx = context(&target, None);
        ctx.packages = Some(&status);
        let finding = &check(&ctx)[0];
        assert_eq!(finding.severity, Severity::Medium);
        assert_eq!(
            finding.evidence,
            "node 20.20.2 at /opt/node-v20/bin/node belongs to no package and is past its upstream end of life (2026-04-30, https://github.com/nodejs/Release): it gets no more security fixes"
        );
        assert!(finding
            .fix
            .starts_with("replace /opt/node-v20/bin/node with a supported node release"));
        let supported = TargetPackages {
            runtime: judge(Runtime::Node, "/opt/node", "v24.1.0", today),
            ..Default::default()
        };
        ctx.packages = Some(&supported);
        assert!(check(&ctx).is_empty());
    }

    #[test]
    fn up_to_date_or_unchecked_gives_nothing() {
        let target = target("127.0.0.1", 6379);
        let ctx = context(&target, None);
        assert!(check(&ctx).is_empty());
        let current =
            TargetPackages { exe_package: Some("redis-server".into()), ..Default::default() };
        let mut ctx = context(&target, None);
        ctx.packages = Some(&current);
        assert!(check(&ctx).is_empty());
    }
}
