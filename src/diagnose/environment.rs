//! The client's side of a connection: its proxy variables, its resolver
//! files, its security confinement and capabilities, and where it runs
//! (container, WSL2).
//!
//! Everything is read either for porthole itself or, with `--from PID`, for
//! another process: `/proc/PID/environ`, `/proc/PID/root/etc/hosts`,
//! `/proc/PID/attr/current`, `/proc/PID/status`, all through the
//! [`System`] handle so the causes built on them are tested on scripted
//! files.

use std::net::{IpAddr, Ipv6Addr};

use crate::inventory::cgroup_policy::{CgroupHook, CgroupProgram, CgroupScan};
use crate::inventory::system::{System, COMMAND_TIMEOUT};
pub use crate::sys::identity::Identity;

/// Whose point of view to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// porthole itself.
    Current,
    /// Another process (`--from PID`).
    Process(u32),
}

impl Client {
    fn proc_dir(self) -> String {
        match self {
            Client::Current => "/proc/self".to_string(),
            Client::Process(pid) => format!("/proc/{pid}"),
        }
    }

    /// The client's environment variables.
    pub fn environment(self, system: &dyn System) -> Vec<(String, String)> {
        match self {
            Client::Current => system.own_environment(),
            Client::Process(pid) => system
                .read(&format!("/proc/{pid}/environ"))
                .map(|bytes| parse_environ(&bytes))
                .unwrap_or_default(),
        }
    }

    /// Path of a file as the client sees it (through its root directory).
    pub fn file(self, path: &str) -> String {
        match self {
            Client::Current => path.to_string(),
            Client::Process(pid) => format!("/proc/{pid}/root{path}"),
        }
    }

    /// `/proc/PID/status` of the client.
    pub fn status(self, system: &dyn System) -> String {
        system.read_text(&format!("{}/status", self.proc_dir())).unwrap_or_default()
    }

    /// The credentials the client opens sockets with: file-system uid and
    /// gid and supplementary groups, from its status.
    pub fn identity(self, system: &dyn System) -> Option<Identity> {
        parse_identity(&self.status(system))
    }

    /// The LSM label (`/proc/PID/attr/current`): an AppArmor profile or an
    /// SELinux context.
    pub fn security_label(self, system: &dyn System) -> Option<String> {
        let text = system.read_text(&format!("{}/attr/current", self.proc_dir()))?;
        let text = text.trim_end_matches(['\0', '\n']).trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    /// The systemd unit the client runs in.
    pub fn unit(self, system: &dyn System) -> Option<String> {
        let cgroup = system.read_text(&format!("{}/cgroup", self.proc_dir()))?;
        crate::inventory::process::parse_cgroup(&cgroup).0
    }
}

/// The file-system uid and gid (the fourth of `Uid:`/`Gid:`: real,
/// effective, saved, file-system) and `Groups:` of a `/proc/PID/status`.
pub fn parse_identity(status: &str) -> Option<Identity> {
    let field = |name: &str| status.lines().find_map(|line| line.strip_prefix(name));
    let fourth = |name: &str| field(name)?.split_whitespace().nth(3)?.parse::<u32>().ok();
    let groups = field("Groups:")
        .map(|text| text.split_whitespace().filter_map(|g| g.parse().ok()).collect())
        .unwrap_or_default();
    Some(Identity { uid: fourth("Uid:")?, gid: fourth("Gid:")?, groups })
}

/// Splits `/proc/PID/environ` (NUL-separated `KEY=VALUE`).
pub fn parse_environ(bytes: &[u8]) -> Vec<(String, String)> {
    bytes
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let (key, value) = text.split_once('=')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

/// A client library whose proxy rules are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyClient {
    /// curl and libcurl users (git, PHP, R…).
    Curl,
    /// Python `urllib` (and `requests`, which reads the same variables).
    Python,
}

impl ProxyClient {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyClient::Curl => "curl",
            ProxyClient::Python => "python",
        }
    }
}

/// A client that would send the request to a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUse {
    pub client: ProxyClient,
    /// The variable that supplied the proxy (`http_proxy`…).
    pub variable: String,
    pub proxy: String,
    /// The no_proxy value in effect (empty when unset).
    pub no_proxy: String,
}

fn lookup<'a>(environment: &'a [(String, String)], name: &str) -> Option<&'a str> {
    environment
        .iter()
        .rev()
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

/// The value urllib's `getproxies_environment` takes for `lower` (a lower
/// case name such as `no_proxy`) and the variable it came from: the lower
/// case variable when it is set, the upper case one otherwise. A lower case
/// variable set to nothing hides the upper case one (urllib removes the
/// entry), where curl skips an empty variable and reads the other.
fn python_lookup<'a>(
    environment: &'a [(String, String)],
    lower: &str,
) -> Option<(String, &'a str)> {
    let upper = lower.to_ascii_uppercase();
    let set = |name: &str| environment.iter().rev().find(|(key, _)| key == name);
    match set(lower) {
        Some((_, value)) => (!value.is_empty()).then(|| (lower.to_string(), value.as_str())),
        None => {
            set(&upper).filter(|(_, value)| !value.is_empty()).map(|(_, v)| (upper, v.as_str()))
        }
    }
}

/// Which clients would send a request for `host` (`https` or not) through
/// a proxy, under each client's own rules.
///
/// curl: `http_proxy` only in lower case (it ignores `HTTP_PROXY` since
/// CVE-2016-5385), `https_proxy`/`HTTPS_PROXY`, then `all_proxy`/`ALL_PROXY`;
/// `no_proxy` (lower case first) matches host names by suffix and IPv4
/// addresses exactly or by CIDR. Python urllib: lower case first for
/// every variable, no `all_proxy` for HTTP, `no_proxy` matches host names by
/// suffix and compares IP literals as strings.
///
/// `host` is the URL's host without brackets (`::1`, not `[::1]`), `port`
/// the port the URL names; each client's rule decides how an IPv6 literal
/// is spelled in the comparison and whether the port takes part (see
/// [`curl_bypasses`] and [`python_bypasses`]).
/// See: <https://about.gitlab.com/blog/2021/01/27/we-need-to-talk-no-proxy/>
pub fn proxy_users(
    environment: &[(String, String)],
    host: &str,
    port: Option<u16>,
    https: bool,
) -> Vec<ProxyUse> {
    let mut users = Vec::new();
    let no_proxy = lookup(environment, "no_proxy").or_else(|| lookup(environment, "NO_PROXY"));
    let curl_variables: &[&str] = if https {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    };
    if let Some((variable, proxy)) =
        curl_variables.iter().find_map(|v| lookup(environment, v).map(|p| (*v, p)))
    {
        if !no_proxy.is_some_and(|list| curl_bypasses(list, host)) {
            users.push(ProxyUse {
                client: ProxyClient::Curl,
                variable: variable.to_string(),
                proxy: proxy.to_string(),
                no_proxy: no_proxy.unwrap_or("").to_string(),
            });
        }
    }
    let no_proxy = python_lookup(environment, "no_proxy").map(|(_, list)| list);
    let python_variable = if https { "https_proxy" } else { "http_proxy" };
    if let Some((variable, proxy)) = python_lookup(environment, python_variable) {
        if !no_proxy.is_some_and(|list| python_bypasses(list, host, port)) {
            users.push(ProxyUse {
                client: ProxyClient::Python,
                variable,
                proxy: proxy.to_string(),
                no_proxy: no_proxy.unwrap_or("").to_string(),
            });
        }
    }
    users
}

fn bare_host(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

/// curl's `no_proxy` test (lib/noproxy.c, 7.86+).
///
/// # Platform specific behavior
///
/// curl hands an IPv6 URL host to this test without its brackets, and the
/// test only treats a bracketed host as an address: `http://[::1]/` is
/// compared as a host name, so only the entry `::1` spelled as the URL
/// spells it covers it (`[::1]`, `::1/128` and `0:0::1` do not). Reproduced
/// with curl 7.88.1. See: <https://github.com/curl/curl/pull/19828>,
/// <https://github.com/curl/curl/issues/5745>
pub fn curl_bypasses(list: &str, host: &str) -> bool {
    let host = bare_host(host);
    let host_ip = host.parse::<IpAddr>().ok().filter(IpAddr::is_ipv4);
    list.split([',', ' ']).map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        if let Some(ip) = host_ip {
            let (network, length) = match entry.split_once('/') {
                Some((network, length)) => (network, length.parse::<u8>().ok()),
                None => (entry.as_str(), None),
            };
            return match network.parse::<IpAddr>() {
                Ok(network) => {
                    let full = if network.is_ipv4() { 32 } else { 128 };
                    super::firewall::in_prefix(ip, network, length.unwrap_or(full))
                }
                Err(_) => false,
            };
        }
        name_matches(&entry, &host)
    })
}

/// A `no_proxy` entry's name rule, shared by curl and Python: the entry
/// without a leading dot is the host or one of its parent domains.
fn name_matches(entry: &str, host: &str) -> bool {
    let entry = entry.trim_start_matches('.');
    host == entry || host.ends_with(&format!(".{entry}"))
}

/// Python's `urllib.request.proxy_bypass_environment`.
///
/// # Platform specific behavior
///
/// urllib compares each entry with the host as the URL writes it, so an
/// IPv6 literal keeps its brackets: `http://[::1]/` is covered by the entry
/// `[::1]` and not by `::1` (Python 3.11). It compares the entry with the
/// host and port too, so `127.0.0.1:8080` covers `http://127.0.0.1:8080/`
/// (curl ignores such an entry).
pub fn python_bypasses(list: &str, host: &str, port: Option<u16>) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let host = bare_host(host);
    let host = if host.parse::<Ipv6Addr>().is_ok() { format!("[{host}]") } else { host };
    let with_port = port.map(|port| format!("{host}:{port}"));
    list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        let entry = entry.to_ascii_lowercase();
        name_matches(&entry, &host) || with_port.as_ref().is_some_and(|h| name_matches(&entry, h))
    })
}

/// What `/etc/hosts` says about a name, and which sources `nsswitch.conf`
/// consults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsView {
    /// Addresses `/etc/hosts` gives the name, in file order.
    pub entries: Vec<IpAddr>,
    /// The `hosts:` line of nsswitch.conf (`files dns`…), if present.
    pub nsswitch: Option<String>,
    /// The hosts file that was read.
    pub hosts_path: String,
    /// Every (name, address) pair of the hosts file, aliases included, in
    /// file order: the names a mistyped one may have meant.
    pub names: Vec<(String, IpAddr)>,
    /// The resolv.conf the client's DNS source reads, and its
    /// `nameserver` addresses in order.
    pub resolv_path: String,
    pub nameservers: Vec<String>,
}

impl HostsView {
    /// Whether a source that always answers `localhost` itself is
    /// configured (nss-myhostname, nss-resolve).
    pub fn synthesizes_localhost(&self) -> bool {
        self.nsswitch.as_deref().is_some_and(|line| {
            line.split_whitespace().any(|s| s == "myhostname" || s == "resolve")
        })
    }
}

/// Reads the client's hosts file and nsswitch line for `name`. porthole's
/// own, inside a namespace `ip netns` named (`--netns NAME`), are those a
/// process started with `ip netns exec NAME` reads: `/etc/netns/NAME/hosts`
/// where it exists (see [`netns_etc`]).
pub fn hosts_view(system: &dyn System, client: Client, name: &str) -> HostsView {
    let etc = match client {
        Client::Current => netns_etc(system),
        Client::Process(_) => None,
    };
    let file = |path: &str| match &etc {
        Some(etc) if system.exists(&etc.file(path)) => etc.file(path),
        _ => client.file(path),
    };
    let hosts_path = file("/etc/hosts");
    let hosts = system.read_text(&hosts_path).unwrap_or_default();
    let nsswitch = system.read_text(&file("/etc/nsswitch.conf")).unwrap_or_default();
    let resolv_path = file("/etc/resolv.conf");
    let resolv = system.read_text(&resolv_path).unwrap_or_default();
    HostsView {
        entries: hosts_entries(&hosts, name),
        nsswitch: nsswitch_hosts(&nsswitch),
        hosts_path,
        names: hosts_names(&hosts),
        resolv_path,
        nameservers: resolv_nameservers(&resolv),
    }
}

/// Every (name, address) pair of a hosts file, in file order.
fn hosts_names(text: &str) -> Vec<(String, IpAddr)> {
    let mut names = Vec::new();
    for line in text.lines() {
        let Some(line) = line.split('#').next() else { continue };
        let mut fields = line.split_whitespace();
        let Some(address) = fields.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
            continue;
        };
        names.extend(fields.map(|name| (name.to_string(), address)));
    }
    names
}

/// The `nameserver` addresses of a resolv.conf, in order.
fn resolv_nameservers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            (fields.next()? == "nameserver").then(|| fields.next().map(str::to_string))?
        })
        .collect()
}

/// `/etc/netns/NAME`: the files `ip netns exec NAME` bind-mounts over
/// their namesakes in `/etc` (`hosts`, `resolv.conf`, `nsswitch.conf`) for
/// the command it runs, so that a name resolves there as that namespace's
/// configuration says.
///
/// See: <https://man7.org/linux/man-pages/man8/ip-netns.8.html>
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsEtc {
    /// The `ip netns` name (a file in `/run/netns`).
    pub name: String,
}

impl NetnsEtc {
    /// Where `ip netns exec` finds its replacement for `path` (`/etc/hosts`
    /// → `/etc/netns/NAME/hosts`).
    pub fn file(&self, path: &str) -> String {
        let relative = path.strip_prefix("/etc/").unwrap_or(path);
        format!("{}/{relative}", self.directory())
    }

    pub fn directory(&self) -> String {
        format!("/etc/netns/{}", self.name)
    }
}

/// The `/etc/netns/NAME` directory of the namespace the calling thread is
/// in, when `ip netns` names it NAME and that directory exists. The
/// namespace is matched by the device and inode of its file, as `ip netns
/// identify` does; a thread that entered through another path (`--netns
/// /run/netns/NAME`) finds the name all the same.
pub fn netns_etc(system: &dyn System) -> Option<NetnsEtc> {
    let own = system.file_status("/proc/thread-self/ns/net")?;
    let names = system.directory_times("/run/netns")?;
    names.into_iter().map(|(name, _)| name).find_map(|name| {
        let status = system.file_status(&format!("/run/netns/{name}"))?;
        let etc = NetnsEtc { name };
        ((status.device, status.inode) == (own.device, own.inode)
            && system.exists(&etc.directory()))
        .then_some(etc)
    })
}

/// Addresses a hosts file gives `name`.
pub fn hosts_entries(text: &str, name: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?;
            let mut fields = line.split_whitespace();
            let address: IpAddr = fields.next()?.parse().ok()?;
            fields.any(|alias| alias.eq_ignore_ascii_case(name)).then_some(address)
        })
        .collect()
}

fn nsswitch_hosts(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        line.strip_prefix("hosts:").map(|rest| rest.trim().to_string())
    })
}

/// Where porthole (or the client) runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    /// `/proc/sys/kernel/osrelease` names Microsoft's WSL2 kernel.
    pub wsl2: bool,
    /// `/.dockerenv`, `/run/.containerenv` or a container cgroup.
    pub container: Option<String>,
}

pub fn platform(system: &dyn System, client: Client) -> Platform {
    let release = system.read_text("/proc/sys/kernel/osrelease").unwrap_or_default();
    let wsl2 = release.to_ascii_lowercase().contains("microsoft")
        || release.to_ascii_lowercase().contains("wsl");
    let container = if system.exists(&client.file("/.dockerenv")) {
        Some("/.dockerenv exists".to_string())
    } else if system.exists(&client.file("/run/.containerenv")) {
        Some("/run/.containerenv exists".to_string())
    } else {
        let pid = match client {
            Client::Current => "self".to_string(),
            Client::Process(pid) => pid.to_string(),
        };
        let cgroup = system.read_text(&format!("/proc/{pid}/cgroup")).unwrap_or_default();
        crate::inventory::process::parse_cgroup(&cgroup)
            .1
            .map(|id| format!("cgroup of container {id}"))
    };
    Platform { wsl2, container }
}

/// `CAP_NET_BIND_SERVICE` is bit 10 of the capability sets.
const CAP_NET_BIND_SERVICE: u32 = 10;

/// Whether the client's effective capabilities include
/// CAP_NET_BIND_SERVICE (from the `CapEff:` line of its status).
pub fn can_bind_privileged(status: &str) -> Option<bool> {
    capability_in(status, "CapEff:", CAP_NET_BIND_SERVICE)
}

/// `CAP_SYS_RESOURCE` is bit 24: it raises a hard resource limit, and sets
/// the limits of another user's process.
pub const CAP_SYS_RESOURCE: u32 = 24;

/// Whether the capability set named by `field` of a status file
/// (`CapEff:` what the process holds now, `CapBnd:` the most it or a
/// program it runs through sudo can ever hold) includes `capability`.
pub fn capability_in(status: &str, field: &str, capability: u32) -> Option<bool> {
    let line = status.lines().find_map(|line| line.strip_prefix(field))?;
    let mask = u64::from_str_radix(line.trim(), 16).ok()?;
    Some(mask & (1 << capability) != 0)
}

/// The `Seccomp:` mode of a status file (0 none, 1 strict, 2 filter).
pub fn seccomp_mode(status: &str) -> Option<u8> {
    status.lines().find_map(|line| line.strip_prefix("Seccomp:")?.trim().parse().ok())
}

/// Security confinement that can refuse a loopback connect or bind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confinement {
    /// `/sys/fs/selinux/enforce` is 1.
    pub selinux_enforcing: bool,
    /// The client's LSM label when it is not unconfined.
    pub label: Option<String>,
    /// Seccomp filter mode 2.
    pub seccomp_filter: bool,
    /// `IPAddressDeny=` / `RestrictAddressFamilies=` of the client's unit.
    pub systemd: Vec<String>,
    pub unit: Option<String>,
    /// BPF programs on the socket hooks of the cgroup whose sockets were
    /// refused (`connect4`, `bind6`, `egress`…).
    pub cgroup_programs: Vec<CgroupProgram>,
    /// Why the cgroup's programs could not be read, when they could not.
    pub cgroup_unreadable: Option<String>,
    /// `bpftool`, which detaches them, is installed.
    pub bpftool_installed: bool,
}

impl Confinement {
    pub fn is_empty(&self) -> bool {
        !self.selinux_enforcing
            && self.label.is_none()
            && !self.seccomp_filter
            && self.systemd.is_empty()
            && self.cgroup_programs.is_empty()
    }

    /// Evidence lines, one per mechanism found.
    pub fn evidence(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.selinux_enforcing {
            lines.push("SELinux is enforcing (/sys/fs/selinux/enforce = 1)".to_string());
        }
        if let Some(label) = &self.label {
            lines.push(format!("the client runs confined as '{label}' (/proc/PID/attr/current)"));
        }
        if self.seccomp_filter {
            lines.push(
                "the client runs under a seccomp filter (Seccomp: 2 in /proc/PID/status)"
                    .to_string(),
            );
        }
        for setting in &self.systemd {
            let unit = self.unit.as_deref().unwrap_or("its unit");
            lines.push(format!("{unit}: {setting}"));
        }
        lines.extend(
            self.cgroup_programs.iter().map(|program| cgroup_program_line(program, "the client's")),
        );
        lines
    }
}

/// One evidence line for a cgroup BPF program: its hook, id, name, the
/// cgroup it is attached to and how (`bpftool cgroup show` says the same).
pub fn cgroup_program_line(program: &CgroupProgram, whose: &str) -> String {
    let name = if program.name.is_empty() { String::new() } else { format!(" '{}'", program.name) };
    let held = match program.link {
        Some(link) => format!(", through BPF link {link}"),
        None => String::new(),
    };
    let loader = if program.created_by_uid == u32::MAX {
        String::new()
    } else {
        format!(", loaded by uid {}", program.created_by_uid)
    };
    format!(
        "a BPF program runs on the {} hook for {whose} sockets: id {}{name}, attached to the cgroup {}{held}{loader}",
        program.hook.bpftool_name(),
        program.id,
        program.cgroup.display(),
    )
}

/// The hooks that can refuse a loopback `connect()` with EPERM.
pub const CONNECT_HOOKS: &[CgroupHook] =
    &[CgroupHook::SockCreate, CgroupHook::Connect4, CgroupHook::Connect6, CgroupHook::Egress];
/// The hooks that can refuse a `bind()` with EPERM.
pub const BIND_HOOKS: &[CgroupHook] =
    &[CgroupHook::SockCreate, CgroupHook::Bind4, CgroupHook::Bind6];

/// The programs on `hooks` for porthole's own sockets (they made the
/// refused attempt) and, with `--from`, for the client's too, each once.
fn refusing_programs(
    system: &dyn System,
    client: Client,
    hooks: &[CgroupHook],
) -> (Vec<CgroupProgram>, Option<String>) {
    let mut scans = vec![system.cgroup_programs(None, hooks)];
    if let Client::Process(pid) = client {
        scans.push(system.cgroup_programs(Some(pid), hooks));
    }
    let mut programs: Vec<CgroupProgram> = Vec::new();
    let mut unreadable = None;
    for scan in scans {
        if let CgroupScan::Unreadable(why) = &scan {
            unreadable.get_or_insert_with(|| why.clone());
        }
        for program in scan.programs() {
            if !programs.iter().any(|p| p.id == program.id && p.hook == program.hook) {
                programs.push(program.clone());
            }
        }
    }
    (programs, unreadable)
}

pub fn confinement(system: &dyn System, client: Client, hooks: &[CgroupHook]) -> Confinement {
    let selinux_enforcing =
        system.read_text("/sys/fs/selinux/enforce").is_some_and(|text| text.trim() == "1");
    let label = client.security_label(system).filter(|label| {
        !label.starts_with("unconfined") && label != "kernel" && !label.contains("unconfined_t")
    });
    let seccomp_filter = seccomp_mode(&client.status(system)) == Some(2);
    let unit = client.unit(system);
    let mut systemd = Vec::new();
    if let Some(unit) = &unit {
        let properties = "IPAddressDeny,IPAddressAllow,RestrictAddressFamilies";
        if let Some(output) =
            system.run("systemctl", &["show", "-p", properties, unit], COMMAND_TIMEOUT)
        {
            for line in output.text().lines() {
                if let Some((key, value)) = line.split_once('=') {
                    if !value.trim().is_empty() {
                        systemd.push(format!("{key}={value}"));
                    }
                }
            }
        }
    }
    let (cgroup_programs, cgroup_unreadable) = refusing_programs(system, client, hooks);
    Confinement {
        selinux_enforcing,
        label,
        seccomp_filter,
        systemd,
        unit,
        bpftool_installed: !cgroup_programs.is_empty() && bpftool_installed(system),
        cgroup_programs,
        cgroup_unreadable,
    }
}

/// Whether `bpftool` is where a root shell finds it.
pub fn bpftool_installed(system: &dyn System) -> bool {
    ["/usr/sbin/bpftool", "/usr/bin/bpftool", "/sbin/bpftool", "/usr/local/sbin/bpftool"]
        .iter()
        .any(|path| system.exists(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_file_system_ids_and_groups() {
        let status =
            "Name:\tx\nUid:\t1000\t1000\t1000\t1001\nGid:\t100\t100\t100\t101\nGroups:\t27 44 \n";
        assert_eq!(
            parse_identity(status),
            Some(Identity { uid: 1001, gid: 101, groups: vec![27, 44] })
        );
        let no_groups = "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n";
        assert_eq!(parse_identity(no_groups), Some(Identity { uid: 0, gid: 0, groups: vec![] }));
        assert_eq!(parse_identity("Name:\tx\n"), None);
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn no_proxy_localhost_does_not_cover_127_0_0_1() {
        let environment = env(&[("http_proxy", "http://proxy:3128"), ("no_proxy", "localhost")]);
        assert!(proxy_users(&environment, "localhost", None, false).is_empty());
        let users = proxy_users(&environment, "127.0.0.1", None, false);
        assert_eq!(users.len(), 2, "{users:?}");
        assert_eq!(users[0].client, ProxyClient::Curl);
    }

    #[test]
    fn curl_ignores_upper_case_http_proxy_but_python_does_not() {
        let environment = env(&[("HTTP_PROXY", "http://proxy:3128")]);
        let users = proxy_users(&environment, "localhost", None, false);
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].client, ProxyClient::Python);
        let environment = env(&[("ALL_PROXY", "socks5://p:1080")]);
        let users = proxy_users(&environment, "localhost", None, false);
        assert_eq!(users.iter().map(|u| u.client).collect::<Vec<_>>(), vec![ProxyClient::Curl]);
    }

    #[test]
    fn cidr_and_suffix_rules() {
        assert!(curl_bypasses("127.0.0.0/8", "127.0.0.1"));
        assert!(!python_bypasses("127.0.0.0/8", "127.0.0.1", None));
        assert!(curl_bypasses(".example.com", "a.example.com"));
        assert!(python_bypasses("example.com", "a.example.com", None));
        assert!(curl_bypasses("*", "anything"));
        assert!(curl_bypasses("::1", "[::1]"));
        assert!(!curl_bypasses("localhost", "127.0.0.1"));
    }

    #[test]
    fn an_ipv6_host_is_matched_as_each_client_spells_it() {
        // curl compares the bare address as a name; urllib the bracketed one.
        for list in ["[::1]", "::1/128", "0:0::1", "::/0"] {
            assert!(!curl_bypasses(list, "::1"), "{list}");
        }
        assert!(curl_bypasses("localhost,::1", "::1"));
        assert!(!python_bypasses("localhost,::1", "::1", None));
        assert!(python_bypasses("[::1]", "::1", None));
        assert!(python_bypasses("[::1]", "[::1]", None));
        assert!(python_bypasses("[::1]:8080", "::1", Some(8080)));
        assert!(python_bypasses("127.0.0.1:8080", "127.0.0.1", Some(8080)));
        assert!(!python_bypasses("127.0.0.1:8080", "127.0.0.1", Some(8081)));
        assert!(!curl_bypasses("127.0.0.1:8080", "127.0.0.1"));
    }

    #[test]
    fn an_empty_lower_case_variable_hides_the_upper_case_one_from_python_only() {
        let environment = env(&[
            ("https_proxy", "http://proxy:3128"),
            ("no_proxy", ""),
            ("NO_PROXY", "localhost"),
        ]);
        let users = proxy_users(&environment, "localhost", Some(443), true);
        assert_eq!(users.iter().map(|u| u.client).collect::<Vec<_>>(), vec![ProxyClient::Python]);
        assert_eq!(users[0].no_proxy, "");
        let environment = env(&[("http_proxy", ""), ("HTTP_PROXY", "http://proxy:3128")]);
        assert!(proxy_users(&environment, "localhost", None, false).is_empty());
        let environment =
            env(&[("http_proxy", "http://proxy:3128"), ("no_proxy", "localhost,127.0.0.1,::1")]);
        let users = proxy_users(&environment, "::1", None, false);
        assert_eq!(users.iter().map(|u| u.client).collect::<Vec<_>>(), vec![ProxyClient::Python]);
    }

    #[test]
    fn hosts_and_capabilities() {
        let hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost # v6\n10.0.0.5 box\n";
        assert_eq!(
            hosts_entries(hosts, "localhost"),
            vec!["127.0.0.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
        assert_eq!(
            nsswitch_hosts("passwd: files\nhosts: files myhostname dns\n").unwrap(),
            "files myhostname dns"
        );
        assert_eq!(can_bind_privileged("CapEff:\t000001ffffffffff\n"), Some(true));
        assert_eq!(can_bind_privileged("CapEff:\t0000000000000000\n"), Some(false));
        assert_eq!(seccomp_mode("Seccomp:\t2\n"), Some(2));
        assert_eq!(parse_environ(b"A=1\0B=x=y\0"), env(&[("A", "1"), ("B", "x=y")]));
    }
}
