//! `porthole proxy`: the API server (`serve`), the one-shot proxy (`run`),
//! and client verbs that drive a running server over its HTTP API.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

use crate::cli::args::ProxyApiArgs;
use crate::cli::args::{
    ProxyArgs, ProxyCommand, ProxyCreateArgs, ProxyListArgs, ProxyNameArgs, ProxyRunArgs,
    ProxyServeArgs, ProxyToxicAddArgs, ProxyToxicArgs, ProxyToxicCommand, ProxyToxicRemoveArgs,
    ProxyToxicUpdateArgs,
};
use crate::cli::duration::{parse_duration, BareNumber};
use crate::commands::{warn, ExitStatus};
use crate::proxy::client::{ApiClient, ClientError};
use crate::proxy::registry::DEFAULT_LISTEN;
use crate::proxy::toxics::{Stream, ToxicKind, ToxicSpec};
use crate::proxy::wire::ToxicRequestWire;
use crate::proxy::{ApiLimits, ApiState, HostPolicy, ProxyRequest, Registry};
use crate::render::proxy as render;

/// Runs a `porthole proxy` subcommand.
pub fn proxy(args: ProxyArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let ProxyArgs { command } = args;
    let result = match *command {
        ProxyCommand::Serve(args) => return serve(args),
        ProxyCommand::Run(args) => return run_one_shot(args, out),
        ProxyCommand::Create(args) => create(args, out),
        ProxyCommand::List(args) => list(args, out),
        ProxyCommand::Inspect(args) => inspect(args, out),
        ProxyCommand::Toggle(args) => toggle(args, out),
        ProxyCommand::Delete(args) => delete(args, out),
        ProxyCommand::Toxic(ProxyToxicArgs { command }) => match command {
            ProxyToxicCommand::Add(args) => toxic_add(args, out),
            ProxyToxicCommand::Update(args) => toxic_update(args, out),
            ProxyToxicCommand::Remove(args) => toxic_remove(args, out),
        },
    };
    match result {
        Ok(()) => Ok(ExitStatus::Success),
        // "No such proxy/toxic" is a no, not an error: exit 1.
        Err(error) => match error.downcast_ref::<ClientError>() {
            Some(ClientError::Api { status: 404, message }) => {
                warn(message);
                Ok(ExitStatus::Failure)
            }
            _ => Err(error),
        },
    }
}

/// The API client the `--url`, `--token` and `--timeout` flags describe.
fn client(api: &ProxyApiArgs) -> anyhow::Result<ApiClient> {
    let ProxyApiArgs { url, token, timeout } = api;
    let timeout = parse_flag_duration("--timeout", timeout)?;
    if timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    Ok(ApiClient::new(url)?.with_timeout(timeout).with_token(token.clone()))
}

fn create(args: ProxyCreateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyCreateArgs { name, listen, upstream, api } = args;
    let client = client(&api)?;
    let listen = listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let proxy = client.create(&name, &listen, &upstream)?;
    render::proxy_line(out, "Created", &proxy)?;
    Ok(())
}

fn list(args: ProxyListArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyListArgs { json, api } = args;
    let proxies = client(&api)?.list()?;
    if json {
        render::json(out, &proxies)?;
    } else {
        render::proxy_table(out, &proxies)?;
    }
    Ok(())
}

fn inspect(args: ProxyNameArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyNameArgs { name, json, api } = args;
    let proxy = client(&api)?.get(&name)?;
    if json {
        render::json(out, &proxy)?;
    } else {
        render::proxy_detail(out, &proxy)?;
    }
    Ok(())
}

fn toggle(args: ProxyNameArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyNameArgs { name, json, api } = args;
    let client = client(&api)?;
    let current = client.get(&name)?;
    let proxy = client.set_enabled(&name, !current.enabled)?;
    if json {
        render::json(out, &proxy)?;
    } else {
        let action = if proxy.enabled { "Enabled" } else { "Disabled" };
        render::proxy_line(out, action, &proxy)?;
    }
    Ok(())
}

fn delete(args: ProxyNameArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyNameArgs { name, json: _, api } = args;
    client(&api)?.delete(&name)?;
    render::done(out, &format!("Deleted proxy {name}"))?;
    Ok(())
}

fn toxic_add(args: ProxyToxicAddArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyToxicAddArgs {
        proxy,
        toxic_type,
        name,
        attributes,
        upstream,
        downstream: _,
        toxicity,
        api,
    } = args;
    let attributes = parse_attributes(&attributes)?;
    check_attribute_names(&toxic_type, &attributes)?;
    let body = ToxicRequestWire {
        attributes: Some(attributes),
        name,
        stream: Some(if upstream { "upstream" } else { "downstream" }.to_string()),
        toxicity: toxicity.map(check_toxicity).transpose()?.map(f64::from),
        r#type: Some(toxic_type),
    };
    let toxic = client(&api)?.add_toxic(&proxy, &body)?;
    render::toxic_line(out, "Added", &proxy, &toxic)?;
    Ok(())
}

fn toxic_update(args: ProxyToxicUpdateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyToxicUpdateArgs { proxy, name, attributes, toxicity, api } = args;
    let attributes = parse_attributes(&attributes)?;
    let client = client(&api)?;
    if !attributes.is_empty() {
        // The API ignores attribute names it does not know, as Toxiproxy
        // does; ask for the toxic's type so a typo is an error here.
        let current = client.toxic(&proxy, &name)?;
        check_attribute_names(&current.r#type, &attributes)?;
    }
    let body = ToxicRequestWire {
        attributes: Some(attributes),
        toxicity: toxicity.map(check_toxicity).transpose()?.map(f64::from),
        ..ToxicRequestWire::default()
    };
    let toxic = client.update_toxic(&proxy, &name, &body)?;
    render::toxic_line(out, "Updated", &proxy, &toxic)?;
    Ok(())
}

fn toxic_remove(args: ProxyToxicRemoveArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyToxicRemoveArgs { proxy, name, api } = args;
    client(&api)?.remove_toxic(&proxy, &name)?;
    render::done(out, &format!("Removed toxic {name} from {proxy}"))?;
    Ok(())
}

/// `-a latency=100 -a jitter=10` → `{"latency": 100, "jitter": 10}`.
fn parse_attributes(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut attributes = Map::new();
    for pair in pairs {
        let (key, value) =
            pair.split_once('=').ok_or_else(|| anyhow!("attribute {pair:?} is not KEY=VALUE"))?;
        let number: i64 = value
            .trim()
            .parse()
            .with_context(|| format!("attribute {key}: {value:?} is not an integer"))?;
        attributes.insert(key.trim().to_string(), Value::from(number));
    }
    Ok(attributes)
}

/// Refuses an unknown type or attribute name before anything is sent: the
/// API, like Toxiproxy's, would create the toxic with the misspelt attribute
/// silently left at 0.
fn check_attribute_names(toxic_type: &str, attributes: &Map<String, Value>) -> anyhow::Result<()> {
    let Some(valid) = ToxicKind::attribute_names(toxic_type) else {
        bail!("unknown toxic type {toxic_type:?} (valid types: {})", ToxicKind::TYPES.join(", "));
    };
    for name in attributes.keys() {
        if !valid.contains(&name.as_str()) {
            if valid.is_empty() {
                bail!("toxic type {toxic_type} takes no attributes, got {name:?}");
            }
            bail!(
                "toxic type {toxic_type} has no attribute {name:?} (valid attributes: {})",
                valid.join(", ")
            );
        }
    }
    Ok(())
}

fn check_toxicity(toxicity: f32) -> anyhow::Result<f32> {
    if !(0.0..=1.0).contains(&toxicity) {
        bail!("toxicity must be between 0 and 1, got {toxicity}");
    }
    Ok(toxicity)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A future that completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are
/// installed here, before the caller announces it is ready, so a signal sent
/// right after the announcement cannot kill the process uncleanly.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

fn serve(args: ProxyServeArgs) -> anyhow::Result<ExitStatus> {
    let ProxyServeArgs {
        listen,
        config,
        allow_host,
        token,
        max_api_connections,
        api_idle_timeout,
        api_header_timeout,
    } = args;
    if max_api_connections == 0 {
        bail!("--max-api-connections must be at least 1");
    }
    let limits = ApiLimits {
        idle_timeout: parse_flag_duration("--api-idle-timeout", &api_idle_timeout)?,
        header_timeout: parse_flag_duration("--api-header-timeout", &api_header_timeout)?,
        max_connections: max_api_connections,
    };
    if limits.idle_timeout.is_zero() || limits.header_timeout.is_zero() {
        bail!("--api-idle-timeout and --api-header-timeout must be more than 0");
    }
    let token = token.filter(|token| !token.is_empty());
    let requests = match &config {
        Some(path) => load_config(path)?,
        None => Vec::new(),
    };
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let bound = listener.local_addr()?;
        let address = bound.to_string();
        if !bound.ip().is_loopback() && token.is_none() {
            warn(&format!(
                "warning: the API on {address} can be reached from other hosts, and whoever \
                 reaches it controls every proxy; require a token with --token or \
                 PORTHOLE_PROXY_TOKEN"
            ));
        }
        // A server bound to one specific address is reached by that address:
        // accept it as a Host (an IP literal cannot be DNS-rebound).
        let mut allow_host = allow_host;
        if !bound.ip().is_loopback() && !bound.ip().is_unspecified() {
            allow_host.push(match bound.ip() {
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            });
        }
        let registry = Arc::new(Registry::new());
        let count = requests.len();
        if !requests.is_empty() {
            if let Err(failure) = registry.populate(requests).await {
                registry.shutdown().await;
                bail!("loading {}: {}", display(config.as_deref()), failure.error);
            }
        }
        let shutdown = shutdown_signal()?;
        render::serving(&mut std::io::stderr(), &address, count)?;
        let state =
            Arc::new(ApiState { registry, hosts: HostPolicy { extra: allow_host }, token, limits });
        crate::proxy::run(listener, state, shutdown).await;
        Ok(ExitStatus::Success)
    })
}

fn display(path: Option<&Path>) -> String {
    path.map_or_else(String::new, |path| path.display().to_string())
}

/// A config file: a JSON array of proxies (or `{"proxies": [...]}`), each
/// optionally with a `toxics` array.
fn load_config(path: &Path) -> anyhow::Result<Vec<ProxyRequest>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("proxies") {
            Some(Value::Array(items)) => items,
            _ => bail!("{}: expected an array of proxies", path.display()),
        },
        _ => bail!("{}: expected an array of proxies", path.display()),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| ProxyRequest::from_json(item, Some(index + 1)))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("in {}", path.display()))
}

/// The toxics `porthole proxy run` flags ask for, as API toxic requests.
fn one_shot_toxics(args: &ProxyRunArgs) -> anyhow::Result<Vec<ToxicSpec>> {
    // Exhaustive, so a new toxic flag cannot be forgotten here.
    let ProxyRunArgs {
        listen: _,
        to: _,
        latency,
        jitter,
        bandwidth,
        slow_close,
        timeout,
        reset_peer,
        limit_data,
        slicer,
        slice_delay,
        toxicity,
        upstream,
    } = args;
    let stream = if *upstream { Stream::Upstream } else { Stream::Downstream };
    let toxicity = f64::from(check_toxicity(*toxicity)?);
    let mut kinds = Vec::new();
    if let Some(latency) = latency {
        let jitter =
            jitter.as_deref().map(|text| parse_flag_millis("--jitter", text)).transpose()?;
        let latency = parse_flag_millis("--latency", latency)?;
        kinds.push(ToxicKind::Latency { latency, jitter: jitter.unwrap_or(0) });
    }
    if let Some(rate) = bandwidth {
        kinds.push(ToxicKind::Bandwidth { rate: parse_rate(rate).context("--bandwidth")? });
    }
    if let Some(delay) = slow_close {
        kinds.push(ToxicKind::SlowClose { delay: parse_flag_millis("--slow-close", delay)? });
    }
    if let Some(timeout) = timeout {
        kinds.push(ToxicKind::Timeout { timeout: parse_flag_millis("--timeout", timeout)? });
    }
    if let Some(timeout) = reset_peer {
        kinds.push(ToxicKind::ResetPeer { timeout: parse_flag_millis("--reset-peer", timeout)? });
    }
    if let Some(bytes) = limit_data {
        let bytes = parse_bytes(bytes).context("--limit-data")?;
        kinds.push(ToxicKind::LimitData { bytes });
    }
    if let Some(size) = slicer {
        let average = parse_bytes(size).context("--slicer")?;
        if average == 0 {
            bail!("--slicer must be at least 1 byte");
        }
        let delay = parse_flag_duration("--slice-delay", slice_delay)?;
        kinds.push(ToxicKind::Slicer {
            average_size: average,
            size_variation: average / 4,
            delay: i64::try_from(delay.as_micros()).unwrap_or(i64::MAX),
        });
    }
    kinds
        .into_iter()
        .map(|kind| ToxicSpec::new(None, kind, stream, toxicity).map_err(anyhow::Error::from))
        .collect()
}

fn run_one_shot(args: ProxyRunArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let toxics = one_shot_toxics(&args)?;
    let ProxyRunArgs { listen, to, .. } = args;
    let request = ProxyRequest {
        name: "run".to_string(),
        listen,
        upstream: to,
        enabled: true,
        toxics: Some(toxics),
    };
    runtime()?.block_on(async move {
        let registry = Registry::new();
        let proxy = registry.create(request).await?;
        let shutdown = shutdown_signal()?;
        render::one_shot_started(&mut std::io::stderr(), &proxy)?;
        let started = Instant::now();
        shutdown.await;
        let metrics = registry.metrics().await;
        registry.shutdown().await;
        if let Some(metrics) = metrics.first() {
            render::one_shot_summary(out, metrics, started.elapsed())?;
        }
        Ok(ExitStatus::Success)
    })
}

/// A duration given to a `porthole proxy` flag. A unit is required: these
/// flags once read a bare number as milliseconds, the rest of porthole as
/// seconds (see [`crate::cli::duration`]).
fn parse_flag_duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    parse_duration(text, BareNumber::Refused).with_context(|| format!("{flag} '{text}'"))
}

/// A flag's duration in whole milliseconds, as the Toxiproxy API takes it.
fn parse_flag_millis(flag: &str, text: &str) -> anyhow::Result<i64> {
    Ok(i64::try_from(parse_flag_duration(flag, text)?.as_millis()).unwrap_or(i64::MAX))
}

/// `512`, `10KB`, `1MB` (powers of 1000), `4KiB`, `1MiB` (powers of 1024),
/// as the Toxiproxy API's integer attributes take it (see
/// [`crate::cli::size`]).
pub fn parse_bytes(text: &str) -> anyhow::Result<i64> {
    let bytes =
        crate::cli::size::parse_size(text).with_context(|| format!("invalid size {text:?}"))?;
    // parse_size stays below i64::MAX.
    Ok(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// A rate in KB/s as Toxiproxy's `bandwidth` takes it: `100KB/s`,
/// `1MB/s`, or a bare number of KB/s.
pub fn parse_rate(text: &str) -> anyhow::Result<i64> {
    let trimmed = text.trim();
    let without =
        trimmed.strip_suffix("/s").or_else(|| trimmed.strip_suffix("ps")).unwrap_or(trimmed);
    let kilobytes = if without.chars().all(|c| c.is_ascii_digit() || c == '.') {
        without.parse::<f64>().map_err(|_| anyhow!("invalid rate {text:?} (try 100KB/s)"))?
    } else {
        parse_bytes(without).with_context(|| format!("invalid rate {text:?}"))? as f64 / 1e3
    };
    let rate = kilobytes.round() as i64;
    if rate < 1 {
        bail!("invalid rate {text:?}: the bandwidth toxic counts whole KB/s (at least 1KB/s)");
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_flag_millis("--latency", "1.5s").unwrap(), 1500);
        assert_eq!(
            parse_flag_duration("--slice-delay", "250us").unwrap(),
            Duration::from_micros(250)
        );
        assert_eq!(parse_flag_millis("--timeout", "0").unwrap(), 0);
        let error = parse_flag_millis("--latency", "40").unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "--latency '40': a number without a unit is ambiguous here: write 40ms or 40s"
        );
        assert!(parse_flag_duration("--timeout", "soon").is_err());
    }

    #[test]
    fn sizes_and_rates() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("10KB").unwrap(), 10_000);
        assert_eq!(parse_bytes("1MiB").unwrap(), 1 << 20);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_rate("100KB/s").unwrap(), 100);
        assert_eq!(parse_rate("1MB/s").unwrap(), 1000);
        assert_eq!(parse_rate("250").unwrap(), 250);
        assert!(parse_rate("10B/s").is_err());
    }

    #[test]
    fn attributes_must_be_integers() {
        let parsed = parse_attributes(&["latency=100".into(), "jitter=5".into()]).unwrap();
        assert_eq!(parsed["latency"], 100);
        assert!(parse_attributes(&["latency=fast".into()]).is_err());
        assert!(parse_attributes(&["latency".into()]).is_err());
    }
}
