//! The set of proxies and their toxics: what the HTTP API, the config file
//! and the one-shot mode act on.
//!
//! # Concurrency
//! One async mutex serialises API operations, so "disable then enable" can
//! never race for the same port. Data paths never take it: each connection
//! holds a `watch` receiver for its proxy's toxics and an `Arc` of its
//! counters. The only awaits under the lock are `Running::stop`, which
//! returns as soon as the proxy's tasks have dropped their sockets.
//!
//! Host names in `listen` and `upstream` are never resolved under the lock:
//! a resolver that does not answer would freeze every API call meanwhile.
//! An operation first looks up the names it will need, on the blocking
//! pool and within [`RESOLVE_DEADLINE`], then takes the lock and checks
//! that the names it needs now are still those it looked up (another call
//! may have changed the proxy in between); if not, it lets go and looks up
//! the rest (`Registry::lock_with_names`).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Mutex, MutexGuard};

use super::budget::FdBudget;
use super::error::{os_reason, ProxyError};
use super::forward::{self, ProxyContext, Running};
use super::link::ToxicSet;
use super::stats::ProxyStats;
use super::toxics::ToxicSpec;
use super::wire::{kind_of, Field, ProxyRequestWire, ProxyWire, ToxicWire};
pub use crate::model::proxy::ProxyMetrics;

/// Where a proxy created without `listen` binds: loopback only, any port
/// (Toxiproxy binds every interface).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";

/// Pending connections the kernel keeps per proxy listener; large enough for
/// bursts of thousands of clients.
const BACKLOG: u32 = 4096;

/// How long a host name in `listen` or `upstream` may take to resolve. A
/// `listen` name that takes longer fails the request (500, `listen tcp:
/// lookup NAME: i/o timeout`, as Go words a resolver timeout); an upstream
/// name is only resolved for the loop check, which is then skipped (it is
/// resolved again for every client, as in Toxiproxy).
pub const RESOLVE_DEADLINE: Duration = Duration::from_secs(5);

/// A proxy to create, from `POST /proxies`, `/populate` or a config file.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub name: String,
    /// Empty means [`DEFAULT_LISTEN`].
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    /// Toxics to install at creation (a porthole extension for config
    /// files; `None` leaves an existing proxy's toxics alone).
    pub toxics: Option<Vec<ToxicSpec>>,
}

impl ProxyRequest {
    /// Reads one proxy object; `position` (1-based) names it in errors from
    /// `/populate`, as Toxiproxy does.
    pub fn from_json(value: &Value, position: Option<usize>) -> Result<Self, ProxyError> {
        let wire =
            ProxyRequestWire::from_value(value).map_err(|reason| ProxyError::BadBody { reason })?;
        Self::from_wire(wire, position)
    }

    /// Every entry of a `/populate` body or config file, each named by its
    /// position in errors; the first error stops the reading.
    pub fn all_from_json(items: &[Value]) -> Result<Vec<Self>, ProxyError> {
        items
            .iter()
            .enumerate()
            .map(|(index, item)| Self::from_json(item, Some(index + 1)))
            .collect()
    }

    /// Judges the fields in the order the API has always checked them, so
    /// the answer to a body with several mistakes does not depend on the
    /// order of its keys: types of `name`, `upstream`, `listen`; a missing
    /// `name`, then `upstream`; the upstream's form; `enabled`; `toxics`.
    pub fn from_wire(wire: ProxyRequestWire, position: Option<usize>) -> Result<Self, ProxyError> {
        // Exhaustive, so a new wire field cannot be forgotten here.
        let ProxyRequestWire { enabled, listen, name, toxics, upstream } = wire;
        let name = text(name, "name")?.unwrap_or_default();
        let upstream = text(upstream, "upstream")?.unwrap_or_default();
        let listen = text(listen, "listen")?.unwrap_or_default();
        let suffix = position.map_or(String::new(), |at| format!(" at proxy {at}"));
        if name.is_empty() {
            return Err(ProxyError::MissingField { field: format!("name{suffix}") });
        }
        if upstream.is_empty() {
            return Err(ProxyError::MissingField { field: format!("upstream{suffix}") });
        }
        check_upstream(&upstream)?;
        let enabled = flag(enabled, "enabled")?.unwrap_or(true);
        let toxics = toxics
            .into_option()
            .map_err(|other| ProxyError::BadBody {
                reason: format!("field toxics must be an array, got {other}"),
            })?
            .map(|items| items.iter().map(ToxicSpec::from_request).collect::<Result<Vec<_>, _>>())
            .transpose()?;
        if let Some(toxics) = &toxics {
            for (index, toxic) in toxics.iter().enumerate() {
                if toxics[..index].iter().any(|other| other.name == toxic.name) {
                    return Err(ProxyError::ToxicExists);
                }
            }
        }
        Ok(ProxyRequest { name, listen, upstream, enabled, toxics })
    }
}

/// A partial update (`POST`/`PATCH /proxies/{name}`): absent fields keep
/// their value.
#[derive(Debug, Clone, Default)]
pub struct ProxyPatch {
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub enabled: Option<bool>,
}

impl ProxyPatch {
    pub fn from_json(value: &Value) -> Result<Self, ProxyError> {
        let wire =
            ProxyRequestWire::from_value(value).map_err(|reason| ProxyError::BadBody { reason })?;
        Self::from_wire(wire)
    }

    /// Absent or `null` fields keep their value, as in Toxiproxy, which
    /// starts an update from the current values. An empty string is a
    /// value: `listen` `""` listens anew (see [`Registry::update`]), and
    /// `upstream` `""` is refused by the update, since no client could be
    /// proxied to it (Toxiproxy takes it, and every dial fails).
    pub fn from_wire(wire: ProxyRequestWire) -> Result<Self, ProxyError> {
        // `name` and `toxics` are not changed by an update, and not checked.
        let ProxyRequestWire { enabled, listen, name: _, toxics: _, upstream } = wire;
        Ok(ProxyPatch {
            listen: text(listen, "listen")?,
            upstream: text(upstream, "upstream")?,
            enabled: flag(enabled, "enabled")?,
        })
    }
}

/// `/populate` failed part way: the error and the proxies handled before it.
#[derive(Debug)]
pub struct PopulateError {
    pub error: ProxyError,
    pub proxies: Vec<ProxyWire>,
}

struct Entry {
    /// `listen` as the client gave it (`localhost:0`), to recognise an
    /// unchanged proxy in `/populate`.
    requested_listen: String,
    /// `listen` as reported: the bound address once the proxy has listened.
    listen: String,
    upstream: String,
    enabled: bool,
    toxics: Vec<ToxicSpec>,
    /// Publishes `toxics` to live connections.
    toxics_sender: watch::Sender<ToxicSet>,
    running: Option<Running>,
    stats: Arc<ProxyStats>,
}

impl Entry {
    fn new(request: &ProxyRequest) -> Self {
        let listen = if request.listen.is_empty() {
            DEFAULT_LISTEN.to_string()
        } else {
            request.listen.clone()
        };
        let toxics = request.toxics.clone().unwrap_or_default();
        let (toxics_sender, _) = watch::channel(Arc::new(toxics.clone()));
        Entry {
            requested_listen: listen.clone(),
            listen,
            upstream: request.upstream.clone(),
            enabled: request.enabled,
            toxics,
            toxics_sender,
            running: None,
            stats: Arc::new(ProxyStats::default()),
        }
    }

    fn to_wire(&self, name: &str) -> ProxyWire {
        ProxyWire {
            name: name.to_string(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.enabled,
            logger: serde_json::Map::new(),
            toxics: self.toxics.iter().map(ToxicSpec::to_wire).collect(),
        }
    }

    /// Binds the listen address and starts accepting; host names come
    /// from `names`, looked up before the lock.
    fn start(&mut self, budget: &Arc<FdBudget>, names: &Names) -> Result<(), ProxyError> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = bind(&self.listen, names)?;
        if let Ok(address) = listener.local_addr() {
            check_loop(address, &self.upstream, names)?;
            // A link-local listener's zone by its interface's name, as
            // Toxiproxy (Go) reports it and as it was typed.
            self.listen = crate::target::socket_address_text(address);
        }
        self.running = Some(forward::start(
            listener,
            ProxyContext {
                upstream: self.upstream.clone(),
                toxics: self.toxics_sender.subscribe(),
                stats: Arc::clone(&self.stats),
                budget: Arc::clone(budget),
            },
        ));
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    fn publish_toxics(&self) {
        self.toxics_sender.send_replace(Arc::new(self.toxics.clone()));
    }
}

/// All proxies, keyed (and listed) by name.
pub struct Registry {
    proxies: Mutex<BTreeMap<String, Entry>>,
    /// Shared with the API server, which takes its connections from it.
    budget: Arc<FdBudget>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::with_budget(FdBudget::global())
    }
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// A registry whose proxies draw descriptors from `budget`.
    pub fn with_budget(budget: Arc<FdBudget>) -> Self {
        Registry { proxies: Mutex::new(BTreeMap::new()), budget }
    }

    /// The descriptor budget of this registry's proxies and its API.
    pub fn budget(&self) -> &Arc<FdBudget> {
        &self.budget
    }

    /// `GET /proxies`.
    pub async fn list(&self) -> BTreeMap<String, ProxyWire> {
        let proxies = self.proxies.lock().await;
        proxies.iter().map(|(name, entry)| (name.clone(), entry.to_wire(name))).collect()
    }

    /// `GET /proxies/{name}`.
    pub async fn get(&self, name: &str) -> Result<ProxyWire, ProxyError> {
        let proxies = self.proxies.lock().await;
        let entry = proxies.get(name).ok_or(ProxyError::ProxyNotFound)?;
        Ok(entry.to_wire(name))
    }

    /// Takes the registry lock once every host name that `needed` lists for
    /// the proxies as they are then has been looked up (into `names`). The
    /// lookups run with the lock released; when another call changed what
    /// is needed in the meantime, the missing names are looked up and the
    /// check repeats. After a few rounds of such races the lock is kept and
    /// anything still missing is resolved under it, as before.
    async fn lock_with_names(
        &self,
        names: &mut Names,
        needed: impl Fn(&BTreeMap<String, Entry>) -> Vec<String>,
    ) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        for _ in 0..3 {
            let proxies = self.proxies.lock().await;
            let missing = names.missing(needed(&proxies));
            if missing.is_empty() {
                return proxies;
            }
            drop(proxies);
            names.look_up(missing).await;
        }
        self.proxies.lock().await
    }

    /// `POST /proxies`: creates and, unless disabled, starts a proxy.
    pub async fn create(&self, request: ProxyRequest) -> Result<ProxyWire, ProxyError> {
        // Requests read from JSON were checked already; this also holds
        // those built elsewhere (`proxy run --to`) to the same rule.
        check_upstream(&request.upstream)?;
        let listen = if request.listen.is_empty() { DEFAULT_LISTEN } else { &request.listen };
        let mut names = Names::default();
        let mut proxies = self
            .lock_with_names(&mut names, |proxies| {
                // A taken name is answered at once, without a lookup.
                if proxies.contains_key(&request.name) {
                    return Vec::new();
                }
                vec![listen.to_string(), request.upstream.clone()]
            })
            .await;
        if proxies.contains_key(&request.name) {
            return Err(ProxyError::ProxyExists);
        }
        precheck_loop(&request.listen, &request.upstream, &names)?;
        let mut entry = Entry::new(&request);
        if entry.enabled {
            entry.start(&self.budget, &names)?;
        }
        let wire = entry.to_wire(&request.name);
        proxies.insert(request.name, entry);
        Ok(wire)
    }

    /// `POST`/`PATCH /proxies/{name}`. A new `listen` or `upstream` restarts
    /// the proxy (live connections drop); `enabled: false` takes it down.
    /// An empty `listen` listens anew on [`DEFAULT_LISTEN`], a fresh port,
    /// as Toxiproxy listens anew on `""`.
    pub async fn update(&self, name: &str, patch: ProxyPatch) -> Result<ProxyWire, ProxyError> {
        if let Some(upstream) = &patch.upstream {
            check_upstream(upstream)?;
        }
        let mut names = Names::default();
        let mut proxies = self
            .lock_with_names(&mut names, |proxies| match proxies.get(name) {
                Some(entry) => vec![
                    patch.listen.clone().unwrap_or_else(|| entry.listen.clone()),
                    patch.upstream.clone().unwrap_or_else(|| entry.upstream.clone()),
                    DEFAULT_LISTEN.to_string(),
                ],
                None => Vec::new(),
            })
            .await;
        let entry = proxies.get_mut(name).ok_or(ProxyError::ProxyNotFound)?;
        let new_listen = match patch.listen {
            // Toxiproxy compares `""` with the bound address, which it never
            // is, so the proxy always listens anew.
            Some(listen) if listen.is_empty() => Some(DEFAULT_LISTEN.to_string()),
            other => {
                other.filter(|listen| *listen != entry.listen && *listen != entry.requested_listen)
            }
        };
        let new_upstream = patch.upstream.filter(|upstream| *upstream != entry.upstream);
        if new_listen.is_some() || new_upstream.is_some() {
            // Refused before the running proxy is touched.
            precheck_loop(
                new_listen.as_deref().unwrap_or(&entry.listen),
                new_upstream.as_deref().unwrap_or(&entry.upstream),
                &names,
            )?;
            entry.stop().await;
        }
        if let Some(listen) = new_listen {
            entry.requested_listen = listen.clone();
            entry.listen = listen;
        }
        if let Some(upstream) = new_upstream {
            entry.upstream = upstream;
        }
        let enabled = patch.enabled.unwrap_or(entry.enabled);
        if enabled {
            if let Err(error) = entry.start(&self.budget, &names) {
                entry.enabled = false;
                return Err(error);
            }
        } else {
            entry.stop().await;
        }
        entry.enabled = enabled;
        Ok(entry.to_wire(name))
    }

    /// `DELETE /proxies/{name}`: closes the listener and every connection.
    pub async fn delete(&self, name: &str) -> Result<(), ProxyError> {
        let mut proxies = self.proxies.lock().await;
        let mut entry = proxies.remove(name).ok_or(ProxyError::ProxyNotFound)?;
        entry.stop().await;
        Ok(())
    }

    /// `POST /populate` and config files. Every entry is validated before
    /// anything changes; an existing proxy with the same `listen` and
    /// `upstream` stays in place (its connections survive unless the entry
    /// disables it: unlike Toxiproxy, `enabled` is applied to it), a
    /// different one is replaced; proxies not listed are kept.
    pub async fn populate(
        &self,
        requests: Vec<ProxyRequest>,
    ) -> Result<Vec<ProxyWire>, PopulateError> {
        let mut names = Names::default();
        let mut proxies = self
            .lock_with_names(&mut names, |proxies| {
                let mut needed = Vec::new();
                for request in &requests {
                    let listen =
                        if request.listen.is_empty() { DEFAULT_LISTEN } else { &request.listen };
                    needed.extend([listen.to_string(), request.upstream.clone()]);
                    if let Some(entry) = proxies.get(&request.name) {
                        needed.push(entry.listen.clone());
                    }
                }
                needed
            })
            .await;
        check_populate(&requests, &names)
            .map_err(|error| PopulateError { error, proxies: Vec::new() })?;
        let mut done = Vec::with_capacity(requests.len());
        for request in requests {
            let unchanged = proxies.get(&request.name).is_some_and(|entry| {
                let listen = if request.listen.is_empty() {
                    DEFAULT_LISTEN
                } else {
                    request.listen.as_str()
                };
                entry.upstream == request.upstream
                    && (entry.listen == listen || entry.requested_listen == listen)
            });
            if unchanged {
                let entry = proxies.get_mut(&request.name).expect("checked just above");
                if let Some(toxics) = request.toxics {
                    entry.toxics = toxics;
                    entry.publish_toxics();
                }
                if request.enabled {
                    if let Err(error) = entry.start(&self.budget, &names) {
                        return Err(PopulateError { error, proxies: done });
                    }
                } else {
                    entry.stop().await;
                }
                entry.enabled = request.enabled;
                done.push(entry.to_wire(&request.name));
                continue;
            }
            if let Some(mut old) = proxies.remove(&request.name) {
                old.stop().await;
            }
            let mut entry = Entry::new(&request);
            if entry.enabled {
                if let Err(error) = entry.start(&self.budget, &names) {
                    return Err(PopulateError { error, proxies: done });
                }
            }
            done.push(entry.to_wire(&request.name));
            proxies.insert(request.name, entry);
        }
        Ok(done)
    }

    /// `POST /reset`: re-enables every proxy and removes every toxic. Stops
    /// at the first proxy that cannot listen again, as Toxiproxy does.
    pub async fn reset(&self) -> Result<(), ProxyError> {
        let mut names = Names::default();
        let mut proxies = self
            .lock_with_names(&mut names, |proxies| {
                proxies
                    .values()
                    .filter(|entry| entry.running.is_none())
                    .flat_map(|entry| [entry.listen.clone(), entry.upstream.clone()])
                    .collect()
            })
            .await;
        for entry in proxies.values_mut() {
            if !entry.toxics.is_empty() {
                entry.toxics.clear();
                entry.publish_toxics();
            }
            entry.start(&self.budget, &names)?;
            entry.enabled = true;
        }
        Ok(())
    }

    /// `GET /proxies/{name}/toxics`.
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<ToxicWire>, ProxyError> {
        let proxies = self.proxies.lock().await;
        let entry = proxies.get(proxy).ok_or(ProxyError::ProxyNotFound)?;
        Ok(entry.toxics.iter().map(ToxicSpec::to_wire).collect())
    }

    /// `GET /proxies/{name}/toxics/{toxic}`.
    pub async fn toxic(&self, proxy: &str, toxic: &str) -> Result<ToxicWire, ProxyError> {
        let proxies = self.proxies.lock().await;
        let entry = proxies.get(proxy).ok_or(ProxyError::ProxyNotFound)?;
        entry
            .toxics
            .iter()
            .find(|spec| spec.name == toxic)
            .map(ToxicSpec::to_wire)
            .ok_or(ProxyError::ToxicNotFound)
    }

    /// `POST /proxies/{name}/toxics`: live connections get it too, without
    /// the API waiting for them.
    pub async fn add_toxic(&self, proxy: &str, body: &Value) -> Result<ToxicWire, ProxyError> {
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(proxy).ok_or(ProxyError::ProxyNotFound)?;
        let spec = ToxicSpec::from_request(body)?;
        if entry.toxics.iter().any(|existing| existing.name == spec.name) {
            return Err(ProxyError::ToxicExists);
        }
        let wire = spec.to_wire();
        entry.toxics.push(spec);
        entry.publish_toxics();
        Ok(wire)
    }

    /// `POST`/`PATCH /proxies/{name}/toxics/{toxic}`: merges attributes and
    /// toxicity into the existing toxic.
    pub async fn update_toxic(
        &self,
        proxy: &str,
        toxic: &str,
        body: &Value,
    ) -> Result<ToxicWire, ProxyError> {
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(proxy).ok_or(ProxyError::ProxyNotFound)?;
        let slot = entry
            .toxics
            .iter_mut()
            .find(|spec| spec.name == toxic)
            .ok_or(ProxyError::ToxicNotFound)?;
        *slot = slot.updated(body)?;
        let wire = slot.to_wire();
        entry.publish_toxics();
        Ok(wire)
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`.
    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ProxyError> {
        let mut proxies = self.proxies.lock().await;
        let entry = proxies.get_mut(proxy).ok_or(ProxyError::ProxyNotFound)?;
        let before = entry.toxics.len();
        entry.toxics.retain(|spec| spec.name != toxic);
        if entry.toxics.len() == before {
            return Err(ProxyError::ToxicNotFound);
        }
        entry.publish_toxics();
        Ok(())
    }

    /// Counters of every proxy, for `/metrics` and summaries.
    pub async fn metrics(&self) -> Vec<ProxyMetrics> {
        let proxies = self.proxies.lock().await;
        proxies
            .iter()
            .map(|(name, entry)| ProxyMetrics {
                name: name.clone(),
                listen: entry.listen.clone(),
                upstream: entry.upstream.clone(),
                enabled: entry.enabled,
                stats: entry.stats.snapshot(),
            })
            .collect()
    }

    /// Stops every proxy (server shutdown); the proxies stay registered.
    pub async fn shutdown(&self) {
        let mut proxies = self.proxies.lock().await;
        for entry in proxies.values_mut() {
            entry.stop().await;
        }
    }
}

/// A string field, its wrong type worded as the API always has.
fn text(field: Field<String>, key: &str) -> Result<Option<String>, ProxyError> {
    field.into_option().map_err(|other| ProxyError::BadBody {
        reason: format!("field {key} must be a string, got {}", kind_of(&other)),
    })
}

fn flag(field: Field<bool>, key: &str) -> Result<Option<bool>, ProxyError> {
    field.into_option().map_err(|other| ProxyError::BadBody {
        reason: format!("field {key} must be a boolean, got {}", kind_of(&other)),
    })
}

/// An upstream must look like `HOST:PORT` as Go splits it; it is resolved
/// per connection. An empty host (`:5432`) is this machine, as Go's `Dial`
/// takes it.
fn check_upstream(upstream: &str) -> Result<(), ProxyError> {
    let bad = || ProxyError::BadUpstream { address: upstream.to_string() };
    if let Some(zoned) = crate::target::zoned_socket_address(upstream) {
        return zoned.map(drop).map_err(|_| bad());
    }
    let (_, port) = split_host_port(upstream).map_err(|_| bad())?;
    match parse_port(port) {
        Ok(Some(_)) => Ok(()),
        _ => Err(bad()),
    }
}

/// Splits `HOST:PORT` as Go's `net.SplitHostPort` does, refusing what it
/// refuses in its words (`address ::1:80: too many colons in address`), so
/// a `listen` or `upstream` means here what it means to Toxiproxy: an IPv6
/// host needs brackets, and the host may be empty.
pub(crate) fn split_host_port(address: &str) -> Result<(&str, &str), String> {
    let refuse = |why: &str| Err(format!("address {address}: {why}"));
    let Some(colon) = address.rfind(':') else {
        return refuse("missing port in address");
    };
    let (host, checked_from) = if let Some(bracketed) = address.strip_prefix('[') {
        let Some(end) = bracketed.find(']').map(|end| end + 1) else {
            return refuse("missing ']' in address");
        };
        if end + 1 == address.len() {
            return refuse("missing port in address");
        }
        if end + 1 != colon {
            return if address.as_bytes()[end + 1] == b':' {
                refuse("too many colons in address")
            } else {
                refuse("missing port in address")
            };
        }
        (&address[1..end], (1, end + 1))
    } else {
        let host = &address[..colon];
        if host.contains(':') {
            return refuse("too many colons in address");
        }
        (host, (0, 0))
    };
    if address[checked_from.0..].contains('[') {
        return refuse("unexpected '[' in address");
    }
    if address[checked_from.1..].contains(']') {
        return refuse("unexpected ']' in address");
    }
    Ok((host, &address[colon + 1..]))
}

/// A port as Go reads one: decimal, an optional `+`, empty meaning 0 (any);
/// `Ok(None)` for empty, `Err` with Go's words for anything else.
fn parse_port(port: &str) -> Result<Option<u16>, String> {
    if port.is_empty() {
        return Ok(None);
    }
    let digits = port.strip_prefix('+').unwrap_or(port);
    match digits.parse::<u16>() {
        Ok(number) if digits.bytes().all(|byte| byte.is_ascii_digit()) => Ok(Some(number)),
        _ => Err(format!("address {port}: invalid port")),
    }
}

/// Whether `upstream` names port 0, where no connection can be made: the
/// API takes it, as Toxiproxy does, but the command-line refuses it.
pub fn upstream_port_is_zero(upstream: &str) -> bool {
    split_host_port(upstream).is_ok_and(|(_, port)| parse_port(port) == Ok(Some(0)))
}

/// Why the host of `upstream` cannot be meant: it is no host name at all
/// (`a b:80`, `db..local:5432`, a control character), which no resolver
/// finds, or a number the resolver reads as a shorthand IPv4 address
/// (`10:80` is 0.0.0.10), as `porthole check` refuses them. The API takes
/// such an upstream, as Toxiproxy's does; the command-line verbs refuse it
/// first. IP literals, the empty host and bracketed addresses pass.
pub fn upstream_host_error(upstream: &str) -> Option<crate::target::EndpointError> {
    let (host, _) = split_host_port(upstream).ok()?;
    if host.is_empty() || host.contains(':') || upstream.starts_with('[') {
        return None;
    }
    crate::target::parse_host(host).err()
}

/// Why the host name of `upstream` does not resolve on this machine now, in
/// Go's words (`lookup db.internal: no such host`, or the resolver's
/// timeout after [`RESOLVE_DEADLINE`]); `None` for an address that needs no
/// lookup and for a name that resolves. A proxy takes such an upstream (it
/// is looked up again for every client, and may resolve later), but until
/// then every client is closed at once: the one-shot proxy warns with it.
pub fn upstream_lookup_error(upstream: &str) -> Option<String> {
    if !needs_lookup(upstream) {
        return None;
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    let query = upstream.to_string();
    // The system resolver has timeouts of its own, longer than ours: the
    // lookup runs on a thread that is left behind if it does not finish.
    std::thread::Builder::new()
        .name("upstream-lookup".into())
        .spawn(move || {
            let _ = sender.send(resolve(&query));
        })
        .ok()?;
    match receiver.recv_timeout(RESOLVE_DEADLINE) {
        Ok(Ok(addresses)) if !addresses.is_empty() => None,
        Ok(Ok(_)) => Some(format!("lookup {}: no such host", host_of(upstream))),
        Ok(Err(reason)) => Some(reason),
        Err(_) => Some(format!("lookup {}: i/o timeout", host_of(upstream))),
    }
}

/// The addresses an upstream with an empty host (`:5432`) is dialled at:
/// this machine, over IPv4 then IPv6, as Go's `Dial` takes an empty host.
pub(crate) fn local_upstream(upstream: &str) -> Option<[SocketAddr; 2]> {
    match split_host_port(upstream) {
        Ok(("", port)) => {
            let port = parse_port(port).ok()??;
            Some([
                SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)),
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
            ])
        }
        _ => None,
    }
}

/// Host names resolved ahead of the registry lock: `HOST:PORT` as given →
/// its addresses, or why there are none in Go's words. Addresses that need
/// no lookup (IP literals, an empty host) are never stored.
#[derive(Debug, Default)]
pub(crate) struct Names(HashMap<String, Result<Vec<SocketAddr>, String>>);

impl Names {
    /// What `address` resolves to: its lookup made ahead, or when none was
    /// (an IP literal, or a name no operation announced), resolved now.
    fn resolve(&self, address: &str) -> Result<Vec<SocketAddr>, String> {
        match self.0.get(address) {
            Some(resolved) => resolved.clone(),
            None => resolve(address),
        }
    }

    /// The addresses of `needed` that need a lookup not made yet.
    fn missing(&self, mut needed: Vec<String>) -> Vec<String> {
        needed.retain(|address| needs_lookup(address) && !self.0.contains_key(address));
        needed.sort();
        needed.dedup();
        needed
    }

    /// Resolves `addresses` at once on the blocking pool, each within
    /// [`RESOLVE_DEADLINE`]. A lookup past the deadline is recorded as Go's
    /// resolver timeout; its thread is left to finish on its own.
    async fn look_up(&mut self, addresses: Vec<String>) {
        // All start now, so one deadline instant bounds them all.
        let deadline = tokio::time::Instant::now() + RESOLVE_DEADLINE;
        let lookups: Vec<_> = addresses
            .into_iter()
            .map(|address| {
                let query = address.clone();
                (address, tokio::task::spawn_blocking(move || resolve(&query)))
            })
            .collect();
        for (address, lookup) in lookups {
            let resolved = match tokio::time::timeout_at(deadline, lookup).await {
                Ok(Ok(resolved)) => resolved,
                Ok(Err(_)) | Err(_) => Err(format!("lookup {}: i/o timeout", host_of(&address))),
            };
            self.0.insert(address, resolved);
        }
    }
}

/// Whether resolving `address` may ask the system resolver: a host that is
/// neither empty nor an IP literal.
fn needs_lookup(address: &str) -> bool {
    if crate::target::zoned_socket_address(address).is_some() {
        return false;
    }
    match split_host_port(address) {
        Ok((host, _)) => !host.is_empty() && host.parse::<IpAddr>().is_err(),
        Err(_) => false,
    }
}

/// Resolves `listen` (through `names`) and binds it with `SO_REUSEADDR`,
/// so a disabled proxy can bind its port again at once. Like Go's
/// `net.Listen`, a name binds one address, the first IPv4 one if there is
/// any, and errors read as Go's, naming that resolved address.
pub(crate) fn bind(listen: &str, names: &Names) -> Result<TcpListener, ProxyError> {
    let address = listen_address(listen, names)?;
    let bound = match bind_one(address) {
        // Every interface on a host without IPv6: IPv4's wildcard.
        Err(error)
            if address.ip() == IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
                && error.raw_os_error() == Some(rustix::io::Errno::AFNOSUPPORT.raw_os_error()) =>
        {
            bind_one(SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, address.port())))
        }
        other => other,
    };
    bound.map_err(|error| ProxyError::Listen {
        address: Some(address.to_string()),
        reason: os_reason("bind", &error),
    })
}

/// The one address [`bind`] binds for `listen`, or why there is none, in
/// the words of the bind error.
fn listen_address(listen: &str, names: &Names) -> Result<SocketAddr, ProxyError> {
    // `[fe80::1%eth0]:8080`: a link-local listener needs its interface.
    if let Some(zoned) = crate::target::zoned_socket_address(listen) {
        return zoned
            .map_err(|error| ProxyError::Listen { address: None, reason: error.to_string() });
    }
    let addresses =
        names.resolve(listen).map_err(|reason| ProxyError::Listen { address: None, reason })?;
    addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
        .ok_or_else(|| ProxyError::Listen {
            address: None,
            reason: format!("lookup {}: no such host", host_of(listen)),
        })
}

/// Judges a whole `/populate` list (or config file) before anything is
/// stopped or bound, so that a list with a mistake changes nothing: two
/// entries with one name (the second would silently replace the first), a
/// loop, an enabled entry whose `listen` cannot be an address, and two
/// enabled entries on one fixed port of overlapping addresses (the second
/// could never bind once the first runs). A port taken by something else
/// is only found by binding, as in Toxiproxy.
fn check_populate(requests: &[ProxyRequest], names: &Names) -> Result<(), ProxyError> {
    let mut listening: Vec<(usize, SocketAddr)> = Vec::new();
    for (index, request) in requests.iter().enumerate() {
        let position = index + 1;
        if let Some(first) = requests[..index].iter().position(|other| other.name == request.name) {
            return Err(ProxyError::DuplicateProxy {
                name: request.name.clone(),
                first: first + 1,
                second: position,
            });
        }
        check_upstream(&request.upstream)?;
        precheck_loop(&request.listen, &request.upstream, names)?;
        // Disabled entries bind nothing; Toxiproxy keeps their address as
        // given until they are enabled.
        if !request.enabled {
            continue;
        }
        let listen = if request.listen.is_empty() { DEFAULT_LISTEN } else { &request.listen };
        let address = listen_address(listen, names)?;
        if address.port() == 0 {
            continue;
        }
        if let Some((first, _)) = listening.iter().find(|(_, other)| overlaps(*other, address)) {
            return Err(ProxyError::ListenConflict {
                listen: listen.to_string(),
                first: *first,
                second: position,
            });
        }
        listening.push((position, address));
    }
    Ok(())
}

/// Whether listeners on `a` and `b` would fight for the port: the same
/// address, or an unspecified one covering the other (`0.0.0.0` covers
/// IPv4, `[::]` covers both families unless `IPV6_V6ONLY` is set).
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    let covers =
        |wide: IpAddr, other: IpAddr| wide.is_unspecified() && (wide.is_ipv6() || other.is_ipv4());
    a.port() == b.port() && (a.ip() == b.ip() || covers(a.ip(), b.ip()) || covers(b.ip(), a.ip()))
}

/// `HOST:PORT` → addresses to listen on, with Go's wording for what goes
/// wrong. An empty host (`:8080`) is every interface, as in Go: `[::]`,
/// which takes IPv4 clients too ([`bind`] falls back to `0.0.0.0` where
/// there is no IPv6).
fn resolve(address: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = split_host_port(address)?;
    let port = parse_port(port)?.unwrap_or(0);
    if host.is_empty() {
        return Ok(vec![SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port))]);
    }
    (host, port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|_| format!("lookup {host}: no such host"))
}

fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The loop check before anything is bound or stopped, for a `listen` with
/// a fixed port (port 0 is checked once bound, by `Entry::start`).
fn precheck_loop(listen: &str, upstream: &str, names: &Names) -> Result<(), ProxyError> {
    let listen = if listen.is_empty() { DEFAULT_LISTEN } else { listen };
    let Ok(addresses) = names.resolve(listen) else {
        return Ok(());
    };
    match addresses.iter().find(|address| address.is_ipv4()).or_else(|| addresses.first()) {
        Some(address) if address.port() != 0 => check_loop(*address, upstream, names),
        _ => Ok(()),
    }
}

/// Refuses a proxy whose upstream is its own listener (`bound`): connecting
/// to it would be accepted by the proxy itself, and so on, one pair of
/// descriptors per round, until the process runs out.
///
/// An unspecified listen address (`0.0.0.0`, `[::]`) loops with any
/// address of this host on the same port; whether an upstream address is
/// this host's is asked of the kernel by binding it with port 0. An
/// upstream that does not resolve now (or not within the deadline) is not
/// refused: it is dialled (and fails) per connection, as Toxiproxy does.
fn check_loop(bound: SocketAddr, upstream: &str, names: &Names) -> Result<(), ProxyError> {
    let targets: Vec<SocketAddr> = match local_upstream(upstream) {
        Some(local) => local.to_vec(),
        None => match names.resolve(upstream) {
            Ok(targets) => targets,
            Err(_) => return Ok(()),
        },
    };
    let is_local = |ip: IpAddr| {
        ip.is_loopback()
            || ip.is_unspecified()
            || std::net::TcpListener::bind(SocketAddr::new(ip, 0)).is_ok()
    };
    for target in targets {
        let same_ip = target.ip() == bound.ip()
            || (bound.ip().is_unspecified() && is_local(target.ip()))
            // Dialling 0.0.0.0 reaches the loopback listener.
            || (target.ip().is_unspecified() && bound.ip().is_loopback());
        if target.port() == bound.port() && same_ip {
            return Err(ProxyError::Loop {
                listen: bound.to_string(),
                upstream: upstream.to_string(),
            });
        }
    }
    Ok(())
}

fn bind_one(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_host_that_is_no_host_name_is_named() {
        let error = |upstream: &str| upstream_host_error(upstream).map(|e| e.to_string());
        assert_eq!(error("a b:80").as_deref(), Some("'a b' is not a valid host name"));
        assert_eq!(
            error("db..local:5432").as_deref(),
            Some("'db..local' is not a valid host name")
        );
        assert!(error("db\u{1b}:1").is_some());
        assert!(error("10:80").is_some_and(|e| e.contains("the IPv4 address 0.0.0.10")));
        for fine in ["db:5432", ":5432", "127.0.0.1:1", "[::1]:1", "[fe80::1%lo]:1", "x", "h_1:1"] {
            assert_eq!(error(fine), None, "{fine}");
        }
    }
    use serde_json::json;

    #[test]
    fn requests_need_name_then_upstream() {
        let error = ProxyRequest::from_json(&json!({"upstream": "a:1"}), Some(2)).unwrap_err();
        assert_eq!(error.to_string(), "missing required field: name at proxy 2");
        let error = ProxyRequest::from_json(&json!({"name": "a"}), None).unwrap_err();
        assert_eq!(error.to_string(), "missing required field: upstream");
        let error =
            ProxyRequest::from_json(&json!({"name": "a", "upstream": "nope"}), None).unwrap_err();
        assert_eq!(error.status(), 400);
        let request =
            ProxyRequest::from_json(&json!({"name": "a", "upstream": "localhost:1"}), None)
                .expect("valid");
        assert!(request.enabled);
        assert!(request.listen.is_empty());
    }

    #[test]
    fn host_and_port_split_as_go_splits_them() {
        for (address, split) in [
            ("localhost:80", ("localhost", "80")),
            ("127.0.0.1:0", ("127.0.0.1", "0")),
            ("[::1]:80", ("::1", "80")),
            ("[fe80::1%lo]:80", ("fe80::1%lo", "80")),
            (":80", ("", "80")),
            ("[]:80", ("", "80")),
            ("host:", ("host", "")),
        ] {
            assert_eq!(split_host_port(address), Ok(split), "{address}");
        }
        for (address, why) in [
            ("nonsense", "missing port in address"),
            ("[::1]", "missing port in address"),
            ("[::1]80", "missing port in address"),
            ("[::1", "missing ']' in address"),
            ("::1:80", "too many colons in address"),
            ("[::1]:80:1", "too many colons in address"),
            ("[[::1]]:80", "missing port in address"),
            ("[a[b]:80", "unexpected '[' in address"),
            ("a[b:80", "unexpected '[' in address"),
            ("a]b:80", "unexpected ']' in address"),
        ] {
            assert_eq!(split_host_port(address), Err(format!("address {address}: {why}")));
        }
        assert_eq!(parse_port(""), Ok(None));
        assert_eq!(parse_port("+80"), Ok(Some(80)));
        assert_eq!(parse_port("65536"), Err("address 65536: invalid port".to_string()));
        assert_eq!(parse_port("0x50"), Err("address 0x50: invalid port".to_string()));
    }

    #[test]
    fn upstreams_follow_go_addresses() {
        for upstream in [":5432", "[]:5432", "[::1]:5432", "db:+5432", "db:0"] {
            check_upstream(upstream).unwrap_or_else(|error| panic!("{upstream}: {error}"));
        }
        for upstream in ["[::1", "::1:5432", "[[::1]]:5432", "db:", "db", "db:x", "\0:1]"] {
            assert_eq!(check_upstream(upstream).unwrap_err().status(), 400, "{upstream}");
        }
        let local = local_upstream(":5432").expect("an empty host is this machine");
        assert_eq!(local.map(|address| address.to_string()), ["127.0.0.1:5432", "[::1]:5432"]);
        assert_eq!(local_upstream("db:5432"), None);
    }

    #[test]
    fn bind_errors_read_like_go() {
        let error = bind("nonsense", &Names::default()).unwrap_err();
        assert_eq!(error.status(), 500);
        assert_eq!(error.to_string(), "listen tcp: address nonsense: missing port in address");
        let error = bind("127.0.0.1:99999", &Names::default()).unwrap_err();
        assert_eq!(error.to_string(), "listen tcp: address 99999: invalid port");
        let error = bind("nowhere.invalid:1", &Names::default()).unwrap_err();
        assert_eq!(error.to_string(), "listen tcp: lookup nowhere.invalid: no such host");
        let error = bind("::1:80", &Names::default()).unwrap_err();
        assert_eq!(error.to_string(), "listen tcp: address ::1:80: too many colons in address");
        let error = bind("[::1", &Names::default()).unwrap_err();
        assert_eq!(error.to_string(), "listen tcp: address [::1: missing ']' in address");
    }

    #[tokio::test]
    async fn an_empty_host_listens_everywhere_and_an_empty_port_anywhere() {
        let everywhere =
            bind(":0", &Names::default()).expect("every interface").local_addr().expect("address");
        assert!(everywhere.ip().is_unspecified(), "{everywhere}");
        assert_ne!(everywhere.port(), 0);
        let any_port =
            bind("127.0.0.1:", &Names::default()).expect("any port").local_addr().expect("address");
        assert_eq!(any_port.ip().to_string(), "127.0.0.1");
        assert_ne!(any_port.port(), 0);
    }

    #[tokio::test]
    async fn a_taken_port_is_named_by_its_resolved_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("address").port();
        let error = bind(&format!("localhost:{port}"), &Names::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("listen tcp 127.0.0.1:{port}: bind: address already in use")
        );
    }

    #[test]
    fn only_host_names_are_looked_up_ahead() {
        for address in ["db:5432", "localhost:0", "[db]:1"] {
            assert!(needs_lookup(address), "{address}");
        }
        for address in ["127.0.0.1:0", "[::1]:80", ":5432", "[fe80::1%lo]:80", "nonsense", "[::1"] {
            assert!(!needs_lookup(address), "{address}");
        }
        let mut names = Names::default();
        names.0.insert("db:1".to_string(), Ok(Vec::new()));
        let needed = ["db:1", "cache:2", "cache:2", "127.0.0.1:3"].map(str::to_string).to_vec();
        assert_eq!(names.missing(needed), ["cache:2"]);
    }

    #[tokio::test]
    async fn a_lookup_past_the_deadline_reads_as_go_s_resolver_timeout() {
        let mut names = Names::default();
        let timeout = Err("lookup slow.test: i/o timeout".to_string());
        names.0.insert("slow.test:0".to_string(), timeout.clone());
        names.0.insert("slow.test:80".to_string(), timeout);
        let error = bind("slow.test:0", &names).unwrap_err();
        assert_eq!(error.status(), 500);
        assert_eq!(error.to_string(), "listen tcp: lookup slow.test: i/o timeout");
        let bound: SocketAddr = "127.0.0.1:80".parse().expect("address");
        check_loop(bound, "slow.test:80", &names).expect("the loop check is skipped");
        // Answers made ahead are used as they are, without asking again.
        let ahead: SocketAddr = "127.0.0.1:0".parse().expect("address");
        names.0.insert("elsewhere.test:0".to_string(), Ok(vec![ahead]));
        let listener = bind("elsewhere.test:0", &names).expect("binds the looked-up address");
        assert!(listener.local_addr().expect("address").ip().is_loopback());
        names.look_up(vec!["localhost:7".to_string()]).await;
        let localhost = names.resolve("localhost:7").expect("localhost resolves");
        assert!(localhost.iter().all(|address| address.ip().is_loopback()), "{localhost:?}");
    }

    #[tokio::test]
    async fn loops_are_refused() {
        let listener = bind("127.0.0.1:0", &Names::default()).expect("bind");
        let bound = listener.local_addr().expect("address");
        let port = bound.port();
        for upstream in
            [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("0.0.0.0:{port}")]
        {
            let error = check_loop(bound, &upstream, &Names::default()).expect_err(&upstream);
            assert_eq!(error.status(), 400);
        }
        check_loop(bound, &format!("127.0.0.1:{}", port ^ 1), &Names::default())
            .expect("another port");
        let any: SocketAddr = format!("0.0.0.0:{port}").parse().expect("address");
        check_loop(any, &format!("127.0.0.1:{port}"), &Names::default()).expect_err("any address");
        check_loop(bound, "nowhere.invalid:1", &Names::default())
            .expect("unresolved upstreams are dialled later");
    }
}

#[cfg(test)]
mod answers {
    //! The API's answer to each proxy body, kept exactly as it was when the
    //! bodies were read by hand, including which mistake is named when a
    //! body has several.
    use super::*;

    fn request(body: &Value) -> String {
        match ProxyRequest::from_json(body, None) {
            Ok(request) => format!(
                "ok {}|{}|{}|{}|{:?}",
                request.name,
                request.listen,
                request.upstream,
                request.enabled,
                request.toxics.map(|toxics| toxics.into_iter().map(|t| t.name).collect::<Vec<_>>())
            ),
            Err(error) => format!("err {} {error}", error.status()),
        }
    }

    fn patch(body: &Value) -> String {
        match ProxyPatch::from_json(body) {
            Ok(patch) => format!("{patch:?}"),
            Err(error) => format!("err {} {error}", error.status()),
        }
    }

    #[test]
    #[rustfmt::skip]
    fn every_body_gets_the_answer_it_always_got() {
        // (body, answer to a create, answer to an update)
        let cases = [
            (r#"[]"#, r#"err 400 bad request body: expected a JSON object, got an array"#, r#"err 400 bad request body: expected a JSON object, got an array"#),
            (r#""x""#, r#"err 400 bad request body: expected a JSON object, got a string"#, r#"err 400 bad request body: expected a JSON object, got a string"#),
            (r#"null"#, r#"err 400 bad request body: expected a JSON object, got null"#, r#"err 400 bad request body: expected a JSON object, got null"#),
            (r#"5"#, r#"err 400 bad request body: expected a JSON object, got a number"#, r#"err 400 bad request body: expected a JSON object, got a number"#),
            (r#"true"#, r#"err 400 bad request body: expected a JSON object, got a boolean"#, r#"err 400 bad request body: expected a JSON object, got a boolean"#),
            (r#"{}"#, r#"err 400 missing required field: name"#, r#"ProxyPatch { listen: None, upstream: None, enabled: None }"#),
            (r#"{"name":5}"#, r#"err 400 bad request body: field name must be a string, got a number"#, r#"ProxyPatch { listen: None, upstream: None, enabled: None }"#),
            (r#"{"name":"a","upstream":5}"#, r#"err 400 bad request body: field upstream must be a string, got a number"#, r#"err 400 bad request body: field upstream must be a string, got a number"#),
            (r#"{"name":"a","upstream":"a:1","listen":5}"#, r#"err 400 bad request body: field listen must be a string, got a number"#, r#"err 400 bad request body: field listen must be a string, got a number"#),
            (r#"{"upstream":"a:1","enabled":"yes"}"#, r#"err 400 missing required field: name"#, r#"err 400 bad request body: field enabled must be a boolean, got a string"#),
            (r#"{"name":"a","upstream":"nope"}"#, r#"err 400 invalid upstream address "nope": expected HOST:PORT"#, r#"ProxyPatch { listen: None, upstream: Some("nope"), enabled: None }"#),
            (r#"{"name":"a","upstream":"nope","enabled":"x"}"#, r#"err 400 invalid upstream address "nope": expected HOST:PORT"#, r#"err 400 bad request body: field enabled must be a boolean, got a string"#),
            (r#"{"name":"a","upstream":"a:1","enabled":"x"}"#, r#"err 400 bad request body: field enabled must be a boolean, got a string"#, r#"err 400 bad request body: field enabled must be a boolean, got a string"#),
            (r#"{"name":"a","upstream":"a:1","toxics":5}"#, r#"err 400 bad request body: field toxics must be an array, got 5"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":{"a":1}}"#, r#"err 400 bad request body: field toxics must be an array, got {"a":1}"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":"s"}"#, r#"err 400 bad request body: field toxics must be an array, got "s""#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":[5]}"#, r#"err 400 bad request body: expected a JSON object"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":[{"type":"x"}]}"#, r#"err 400 invalid toxic type"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":[{"type":"noop","name":3}]}"#, r#"err 400 bad request body: json: cannot unmarshal number into Go struct field ToxicWrapper.name of type string"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":[{"type":"noop"},{"type":"noop"}]}"#, r#"err 409 toxic already exists"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":[{"type":"noop"},{"type":"noop","stream":"upstream"}]}"#, r#"ok a||a:1|true|Some(["noop_downstream", "noop_upstream"])"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":[]}"#, r#"ok a||a:1|true|Some([])"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":null,"upstream":"a:1"}"#, r#"err 400 missing required field: name"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"","upstream":"a:1"}"#, r#"err 400 missing required field: name"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":""}"#, r#"err 400 missing required field: upstream"#, r#"ProxyPatch { listen: None, upstream: Some(""), enabled: None }"#),
            (r#"{"listen":""}"#, r#"err 400 missing required field: name"#, r#"ProxyPatch { listen: Some(""), upstream: None, enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","enabled":null,"listen":null,"toxics":null,"extra":1}"#, r#"ok a||a:1|true|None"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","enabled":false,"listen":"x:2"}"#, r#"ok a|x:2|a:1|false|None"#, r#"ProxyPatch { listen: Some("x:2"), upstream: Some("a:1"), enabled: Some(false) }"#),
            (r#"{"enabled":"x","name":5}"#, r#"err 400 bad request body: field name must be a string, got a number"#, r#"err 400 bad request body: field enabled must be a boolean, got a string"#),
            (r#"{"toxics":5,"name":"a","upstream":"a:1","enabled":3}"#, r#"err 400 bad request body: field enabled must be a boolean, got a number"#, r#"err 400 bad request body: field enabled must be a boolean, got a number"#),
            (r#"{"name":"a","upstream":"a:1","enabled":1}"#, r#"err 400 bad request body: field enabled must be a boolean, got a number"#, r#"err 400 bad request body: field enabled must be a boolean, got a number"#),
            (r#"{"name":"a","upstream":"a:1","enabled":[]}"#, r#"err 400 bad request body: field enabled must be a boolean, got an array"#, r#"err 400 bad request body: field enabled must be a boolean, got an array"#),
            (r#"{"name":"a","upstream":"a:1","enabled":{}}"#, r#"err 400 bad request body: field enabled must be a boolean, got an object"#, r#"err 400 bad request body: field enabled must be a boolean, got an object"#),
            (r#"{"name":"a","upstream":"a:1","listen":true}"#, r#"err 400 bad request body: field listen must be a string, got a boolean"#, r#"err 400 bad request body: field listen must be a string, got a boolean"#),
            (r#"{"name":"a","upstream":"a:1","toxics":[null]}"#, r#"err 400 bad request body: expected a JSON object"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":[{"toxicity":"x","type":5}]}"#, r#"err 400 bad request body: json: cannot unmarshal string into Go struct field ToxicWrapper.toxicity of type float32"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
            (r#"{"name":"a","upstream":"a:1","toxics":[{"type":"latency","attributes":{"latency":-1}}], "enabled": 5}"#, r#"err 400 bad request body: field enabled must be a boolean, got a number"#, r#"err 400 bad request body: field enabled must be a boolean, got a number"#),
            (r#"{"name":"a","name":"b","upstream":"a:1"}"#, r#"ok b||a:1|true|None"#, r#"ProxyPatch { listen: None, upstream: Some("a:1"), enabled: None }"#),
        ];
        for (body, create, update) in cases {
            let value: Value = serde_json::from_str(body).expect("test bodies are JSON");
            assert_eq!(request(&value), create, "create {body}");
            assert_eq!(patch(&value), update, "update {body}");
        }
        let error = ProxyRequest::from_json(&serde_json::json!({}), Some(2)).unwrap_err();
        assert_eq!(error.to_string(), "missing required field: name at proxy 2");
    }
}
