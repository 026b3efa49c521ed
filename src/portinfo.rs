//! What a port number means: its IANA range, whether this machine's kernel
//! hands it out as a source port, the services usually found there, and
//! whether browsers refuse to connect to it.
//!
//! Used by `porthole PORT` to explain a number, by `free` to avoid numbers
//! that are risky to claim, and by `check` to warn about service ports
//! inside the ephemeral range.

use crate::model::PortSet;

pub use crate::model::{IanaRange, PortMeaning};

/// Describes `port` using this machine's sysctls and `/etc/services`.
pub fn describe(port: u16) -> PortMeaning {
    describe_on(&crate::inventory::system::Machine, port)
}

/// Describes `port` with the sysctls and `/etc/services` of `system`.
pub fn describe_on(system: &dyn crate::inventory::system::System, port: u16) -> PortMeaning {
    let ephemeral_range = system.ephemeral_range();
    let reserved = system
        .reserved_ports_text()
        .and_then(|text| PortSet::parse(text.trim()).ok())
        .is_some_and(|set| set.contains(port));
    let unprivileged_start = system.unprivileged_port_start().unwrap_or(1024);
    let mut services = services_in(&system.read_text("/etc/services").unwrap_or_default(), port);
    if let Some(known) = development_service(port) {
        if !services.iter().any(|s| known.to_ascii_lowercase().contains(&s.to_ascii_lowercase())) {
            services.push(known.to_string());
        }
    }
    PortMeaning {
        port,
        iana_range: IanaRange::of(port),
        ephemeral_range,
        in_ephemeral_range: ephemeral_range.is_some_and(|(low, high)| low <= port && port <= high),
        reserved,
        // Port 0 is no port: binding it asks for any free one, which needs
        // no privilege.
        privileged: port != 0 && port < unprivileged_start,
        services,
        browser_blocked: is_browser_blocked(port),
    }
}

/// Describes `port` inside each namespace of `inodes` (found among
/// `namespaces`, the ones `--netns all` listed), under that namespace's
/// own sysctls: its ephemeral range, reserved ports and first
/// unprivileged port are its own, not this namespace's. Each is entered
/// on a thread of its own (through a process living there, else its `ip
/// netns` name); one that cannot be entered, or that is gone, says why.
pub fn describe_in_namespaces(
    namespaces: &[crate::model::Namespace],
    inodes: &[u64],
    port: u16,
) -> Vec<crate::model::NamespaceMeaning> {
    inodes
        .iter()
        .map(|&inode| crate::model::NamespaceMeaning {
            inode,
            meaning: describe_in_namespace(
                namespaces.iter().find(|n| n.inode == inode),
                inode,
                port,
            ),
        })
        .collect()
}

fn describe_in_namespace(
    namespace: Option<&crate::model::Namespace>,
    inode: u64,
    port: u16,
) -> Result<PortMeaning, String> {
    let path = match namespace.map(|n| (n.example_pid, &n.name)) {
        Some((Some(pid), _)) => format!("/proc/{pid}/ns/net"),
        Some((None, Some(name))) => format!("/run/netns/{name}"),
        _ => return Err("no process or name leads into it".to_string()),
    };
    let handle = crate::inventory::NamespaceHandle { path, inode };
    let described = crate::inventory::namespaces::within(&handle, || {
        // A pid that exited and was reused leads elsewhere: the settings
        // read there would be another namespace's.
        (crate::inventory::namespaces::own_inode() == inode).then(|| describe(port))
    });
    match described {
        Ok(Some(meaning)) => Ok(meaning),
        Ok(None) => Err("it is gone (its processes exited)".to_string()),
        Err(error) => Err(error_chain(&error)),
    }
}

/// An error with its causes, `: `-joined.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The fetch standard's "bad ports": browsers refuse to fetch from them.
/// See: <https://fetch.spec.whatwg.org/#port-blocking>
pub const BROWSER_BLOCKED_PORTS: &[u16] = &[
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
    103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
    512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
    995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
    6669, 6679, 6697, 10080,
];

pub fn is_browser_blocked(port: u16) -> bool {
    BROWSER_BLOCKED_PORTS.binary_search(&port).is_ok()
}

/// Ports development tools and local services commonly use, with what
/// usually listens there. Kept sorted by port.
pub const DEVELOPMENT_PORTS: &[(u16, &str)] = &[
    (1313, "Hugo dev server"),
    (1433, "Microsoft SQL Server"),
    (1521, "Oracle database"),
    (2181, "ZooKeeper"),
    (2375, "Docker Engine API (plain)"),
    (2376, "Docker Engine API (TLS)"),
    (2379, "etcd client API"),
    (2380, "etcd peer API"),
    (3000, "Node/Rails/Grafana dev server"),
    (3001, "Node dev server (second)"),
    (3100, "Grafana Loki"),
    (3306, "MySQL/MariaDB"),
    (4000, "Phoenix/Jekyll dev server"),
    (4173, "Vite preview"),
    (4200, "Angular dev server"),
    (4321, "Astro dev server"),
    (5000, "Flask dev server / Docker registry"),
    (5005, "Java debugger (JDWP)"),
    (5173, "Vite dev server"),
    (5432, "PostgreSQL"),
    (5601, "Kibana"),
    (5672, "RabbitMQ (AMQP)"),
    (5984, "CouchDB"),
    (6006, "Storybook/TensorBoard"),
    (6379, "Redis/Valkey"),
    (6443, "Kubernetes API server"),
    (7474, "Neo4j browser"),
    (8000, "Django/python http.server"),
    (8008, "HTTP alternate"),
    (8080, "HTTP alternate (Tomcat, proxies, dev servers)"),
    (8081, "HTTP alternate (second)"),
    (8200, "HashiCorp Vault"),
    (8443, "HTTPS alternate"),
    (8474, "Toxiproxy API"),
    (8500, "Consul"),
    (8888, "Jupyter"),
    (9000, "PHP-FPM/SonarQube/MinIO"),
    (9090, "Prometheus"),
    (9092, "Kafka"),
    (9093, "Alertmanager"),
    (9100, "Prometheus node exporter"),
    (9200, "Elasticsearch/OpenSearch"),
    (9222, "Chrome DevTools protocol"),
    (9229, "Node.js inspector"),
    (10250, "kubelet API"),
    (11211, "memcached"),
    (15672, "RabbitMQ management"),
    (27017, "MongoDB"),
];

/// The built-in description of a development port.
pub fn development_service(port: u16) -> Option<&'static str> {
    DEVELOPMENT_PORTS
        .binary_search_by_key(&port, |&(p, _)| p)
        .ok()
        .map(|index| DEVELOPMENT_PORTS[index].1)
}

/// The programs that legitimately hold a service's port, for the ports
/// where a client expects one protocol: the service's own servers and its
/// drop-in alternatives and poolers (pgbouncer on 5432, valkey on 6379,
/// dropbear on 22). Kept sorted by port. A word matches a program's name,
/// the file name of its executable or of `argv[0]`, or, for a language
/// runtime (whose program is an argument), any of its arguments.
pub const SERVICE_PROGRAMS: &[(u16, &str, &[&str])] = &[
    (22, "SSH", &["sshd", "dropbear", "tinysshd", "gitea", "forgejo", "gitlab-sshd"]),
    (25, "SMTP", &["master", "exim", "sendmail", "smtpd", "postfix", "opensmtpd"]),
    (
        53,
        "DNS",
        &[
            "named",
            "dnsmasq",
            "unbound",
            "systemd-resolve",
            "coredns",
            "pdns",
            "knot",
            "dnscrypt",
            "dnsdist",
            "pihole-ftl",
            "adguardhome",
            "blocky",
            "stubby",
            "aardvark-dns",
            "cloudflared",
        ],
    ),
    (1433, "Microsoft SQL Server", &["sqlservr"]),
    (2181, "ZooKeeper", &["zookeeper", "kafka"]),
    (2379, "etcd", &["etcd"]),
    (2380, "etcd", &["etcd"]),
    (3306, "MySQL/MariaDB", &["mysql", "mariadb", "proxysql", "maxscale", "tidb", "dolt"]),
    (5432, "PostgreSQL", &["postgres", "postmaster", "pgbouncer", "pgpool", "odyssey", "pgcat"]),
    (5672, "RabbitMQ (AMQP)", &["rabbit", "beam.smp", "artemis", "qpidd"]),
    (5984, "CouchDB", &["couchdb", "beam.smp"]),
    (
        6379,
        "Redis/Valkey",
        &["redis", "valkey", "keydb", "kvrocks", "dragonfly", "garnet", "twemproxy", "nutcracker"],
    ),
    (9092, "Kafka", &["kafka", "redpanda"]),
    (9200, "Elasticsearch/OpenSearch", &["elasticsearch", "opensearch"]),
    (11211, "memcached", &["memcached", "mcrouter", "twemproxy", "nutcracker"]),
    (27017, "MongoDB", &["mongod", "mongos", "ferretdb"]),
];

/// Programs that hold any port on another program's behalf: container
/// port publishers, tunnels and forwarders, and socket activation (systemd
/// holds `ssh.socket`'s 22 until the first client).
const FORWARDERS: &[&str] = &[
    "docker-proxy",
    // Docker's embedded DNS (127.0.0.11:53 in a container's namespace).
    "dockerd",
    "containerd",
    // `containerd-shim-runc-v2`, as the kernel cuts its name.
    "containerd-shim",
    "conmon",
    "rootlessport",
    "slirp4netns",
    "pasta",
    "ssh",
    // `ssh -R PORT:…` makes the server's sshd listen on PORT.
    "sshd",
    "sshd-session",
    "kubectl",
    "kube-proxy",
    "gvproxy",
    "vpnkit",
    "socat",
    "haproxy",
    "envoy",
    "porthole",
    "toxiproxy",
    "systemd",
    // Rootless Docker publishes ports through RootlessKit's process.
    "rootlesskit",
    // Reverse proxies and TLS terminators with TCP streams.
    "nginx",
    "caddy",
    "traefik",
    "stunnel",
    "stunnel4",
    // Virtual machines' user-mode networking forwards host ports (names as
    // the kernel cuts them to 15 bytes).
    "qemu-system-x86",
    "qemu-system-aar",
    "vboxheadless",
    "limactl",
    // Database access proxies and tunnels a developer runs on the service's
    // own port: `cloud-sql-proxy … --port 5432`, `tsh proxy db`, SSM port
    // forwarding, `kubefwd`, Telepresence, Boundary, cloudflared access.
    "cloud-sql-proxy",
    "cloud_sql_proxy",
    "alloydb-auth-pr",
    "session-manager",
    "tsh",
    "teleport",
    "kubefwd",
    "telepresence",
    "boundary",
    "cloudflared",
    "tailscaled",
];

/// Language runtimes: the program they run is named in their arguments.
const RUNTIMES: &[&str] =
    &["java", "python", "node", "ruby", "perl", "php", "beam.smp", "bun", "deno", "dotnet", "erl"];

/// The service a client expects on `port` and the programs that serve it,
/// from [`SERVICE_PROGRAMS`].
pub fn expected_programs(port: u16) -> Option<(&'static str, &'static [&'static str])> {
    SERVICE_PROGRAMS
        .binary_search_by_key(&port, |&(p, _, _)| p)
        .ok()
        .map(|index| (SERVICE_PROGRAMS[index].1, SERVICE_PROGRAMS[index].2))
}

/// Whether `process` serves what a client expects on `port` (or forwards
/// to it): always true for a port without an expected service.
pub fn serves_expected(port: u16, process: &crate::model::Process) -> bool {
    let Some((_, programs)) = expected_programs(port) else { return true };
    let base = |path: &str| path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let mut names = vec![process.name.to_ascii_lowercase()];
    names.extend(process.exe.as_deref().map(base));
    names.extend(process.cmdline.first().map(|argv0| base(argv0)));
    let named = |word: &str| names.iter().any(|name| name.contains(word));
    if FORWARDERS.iter().any(|f| names.iter().any(|name| name == f))
        || programs.iter().any(|p| named(p))
    {
        return true;
    }
    // `java -jar elasticsearch.jar`, `python3 -m pgserver`: a runtime's
    // program is among its arguments.
    let runtime = names.iter().any(|name| RUNTIMES.iter().any(|r| name.starts_with(r)));
    runtime
        && process.cmdline.iter().skip(1).any(|arg| {
            let arg = arg.to_ascii_lowercase();
            programs.iter().any(|p| arg.contains(p))
        })
}

/// Whether a port is a well-known service port (built-in table, or named
/// in `/etc/services` and below 49152): `free` never hands these out.
pub fn is_well_known_service(port: u16, services_file: &PortSet) -> bool {
    development_service(port).is_some() || services_file.contains(port)
}

/// Every port `/etc/services` of `system` names, as a set.
pub fn etc_services_ports(system: &dyn crate::inventory::system::System) -> PortSet {
    let text = system.read_text("/etc/services").unwrap_or_default();
    let mut ports: Vec<String> = text
        .lines()
        .filter_map(|line| line.split('#').next()?.split_ascii_whitespace().nth(1))
        .filter_map(|field| field.split('/').next().map(str::to_string))
        .collect();
    ports.sort();
    ports.dedup();
    PortSet::parse(&ports.join(",")).unwrap_or_else(|_| PortSet::single(0))
}

/// The ports `/etc/services` gives the service `name` (by its name or an
/// alias: `http`, `www`, `postgresql`), ascending, each once.
pub fn ports_of_service(name: &str) -> Vec<u16> {
    use crate::inventory::system::System as _;
    let text = crate::inventory::system::Machine.read_text("/etc/services").unwrap_or_default();
    service_ports_in(&text, name)
}

fn service_ports_in(text: &str, name: &str) -> Vec<u16> {
    let mut ports: Vec<u16> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('#').next()?.split_ascii_whitespace();
            let service = fields.next()?;
            let port = fields.next()?.split('/').next()?.parse().ok()?;
            (service == name || fields.any(|alias| alias == name)).then_some(port)
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn services_in(text: &str, port: u16) -> Vec<String> {
    let wanted = port.to_string();
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_ascii_whitespace();
        let (Some(name), Some(port_protocol)) = (fields.next(), fields.next()) else { continue };
        if port_protocol.split('/').next() == Some(wanted.as_str())
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_tables() {
        assert_eq!(IanaRange::of(80), IanaRange::System);
        assert_eq!(IanaRange::of(5432), IanaRange::User);
        assert_eq!(IanaRange::of(62893), IanaRange::Dynamic);
        assert!(is_browser_blocked(6000));
        assert!(is_browser_blocked(10080));
        assert!(!is_browser_blocked(8080));
        assert_eq!(development_service(5173), Some("Vite dev server"));
        assert!(DEVELOPMENT_PORTS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(SERVICE_PROGRAMS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(BROWSER_BLOCKED_PORTS.windows(2).all(|w| w[0] < w[1]));
    }

    fn process(name: &str, exe: &str, argv: &[&str]) -> crate::model::Process {
        crate::model::Process {
            pid: 42,
            name: name.into(),
            exe: Some(exe.into()),
            cmdline: argv.iter().map(|a| a.to_string()).collect(),
            ..crate::model::Process::default()
        }
    }

    #[test]
    fn a_service_port_held_by_another_program_is_told_from_its_alternatives() {
        let python = process("python3", "/usr/bin/python3.11", &["python3", "-m", "http.server"]);
        assert!(!serves_expected(5432, &python));
        let nc = process("nc", "/usr/bin/nc.openbsd", &["nc", "-l", "6379"]);
        assert!(!serves_expected(6379, &nc));
        let fake_sshd = process("sleepy", "/usr/bin/sleepy", &["sleepy", "22"]);
        assert!(!serves_expected(22, &fake_sshd));
        // A systemd service is not systemd's socket activation.
        let networkd = process("systemd-network", "/usr/lib/systemd/systemd-networkd", &["x"]);
        assert!(!serves_expected(5432, &networkd));
        // The service itself, its alternatives, forwarders, runtimes that
        // name it, and ports without an expected service.
        for (port, owner) in [
            (5432, process("postgres", "/usr/lib/postgresql/15/bin/postgres", &["postgres"])),
            (5432, process("pgbouncer", "/usr/sbin/pgbouncer", &["pgbouncer", "p.ini"])),
            (6379, process("valkey-server", "/usr/bin/valkey-server", &["valkey-server *:6379"])),
            (6379, process("keydb-server", "/usr/bin/keydb-server", &["keydb-server"])),
            (22, process("dropbear", "/usr/sbin/dropbear", &["dropbear", "-F"])),
            (22, process("systemd", "/usr/lib/systemd/systemd", &["/sbin/init"])),
            (5432, process("docker-proxy", "/usr/bin/docker-proxy", &["docker-proxy"])),
            (53, process("dockerd", "/usr/bin/dockerd", &["/usr/bin/dockerd"])),
            (53, process("systemd-resolve", "/usr/lib/systemd/systemd-resolved", &["x"])),
            (6379, process("containerd-shim", "/usr/bin/containerd-shim-runc-v2", &["x"])),
            (5432, process("ssh", "/usr/bin/ssh", &["ssh", "-L", "5432:db:5432", "bastion"])),
            (
                5432,
                process(
                    "cloud-sql-proxy",
                    "/usr/local/bin/cloud-sql-proxy",
                    &["cloud-sql-proxy", "--port", "5432", "proj:region:db"],
                ),
            ),
            (3306, process("nginx", "/usr/sbin/nginx", &["nginx: worker process"])),
            (6379, process("rootlesskit", "/usr/bin/rootlesskit", &["rootlesskit"])),
            (22, process("qemu-system-x86", "/usr/bin/qemu-system-x86_64", &["qemu"])),
            (
                9200,
                process(
                    "java",
                    "/usr/lib/jvm/bin/java",
                    &["java", "org.elasticsearch.bootstrap.Elasticsearch"],
                ),
            ),
            (6379, process("python3", "/usr/bin/python3", &["python3", "fake_redis.py"])),
            (8000, python.clone()),
        ] {
            assert!(serves_expected(port, &owner), "{port}: {owner:?}");
        }
    }

    #[test]
    fn parses_services_file() {
        let text = "postgresql\t5432/tcp\tpostgres # PostgreSQL\npostgresql 5432/udp\nhttp 80/tcp www\n# comment 5432/tcp\n";
        assert_eq!(services_in(text, 5432), vec!["postgresql".to_string()]);
        assert_eq!(service_ports_in(text, "postgresql"), vec![5432]);
        assert_eq!(service_ports_in(text, "www"), vec![80]);
        assert_eq!(service_ports_in(text, "http"), vec![80]);
        assert!(service_ports_in(text, "tcp").is_empty());
        assert_eq!(services_in(text, 80), vec!["http".to_string()]);
        assert!(services_in(text, 81).is_empty());
    }
}
