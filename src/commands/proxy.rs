//! `porthole proxy`: the API server (`serve`), the one-shot proxy (`run`),
//! and client verbs that drive a running server over its HTTP API.

use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

use crate::cli::args::ProxyApiArgs;
use crate::cli::args::{
    ProxyArgs, ProxyCommand, ProxyCreateArgs, ProxyListArgs, ProxyNameArgs, ProxyRunArgs,
    ProxyServeArgs, ProxyToxicAddArgs, ProxyToxicArgs, ProxyToxicCommand, ProxyToxicRemoveArgs,
    ProxyToxicUpdateArgs,
};
use crate::cli::duration::{parse_duration, BareNumber};
use crate::cli::settings::{ProxyRunSettings, ProxyServeSettings};
use crate::commands::{warn, ExitStatus};
use crate::proxy::client::{ApiClient, ClientError};
use crate::proxy::registry::DEFAULT_LISTEN;
use crate::proxy::service::{self, ServeEvent, ServeOptions};
use crate::proxy::toxics::ToxicKind;
use crate::proxy::wire::ToxicRequestWire;
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

pub fn check_toxicity(toxicity: f32) -> anyhow::Result<f32> {
    if !(0.0..=1.0).contains(&toxicity) {
        bail!("toxicity must be between 0 and 1, got {toxicity}");
    }
    Ok(toxicity)
}

fn serve(args: ProxyServeArgs) -> anyhow::Result<ExitStatus> {
    let settings = ProxyServeSettings::resolve(args)?;
    let requests = match &settings.config {
        Some(path) => service::load_config(path)?,
        None => Vec::new(),
    };
    let options = ServeOptions {
        listen: settings.listen,
        requests,
        config: settings.config.map(|path| path.display().to_string()),
        allow_host: settings.allow_host,
        token: settings.token,
        limits: settings.limits,
    };
    service::serve(options, |event| match event {
        ServeEvent::Exposed { address } => {
            warn(&format!(
                "warning: the API on {address} can be reached from other hosts, and whoever \
                 reaches it controls every proxy; require a token with --token or \
                 PORTHOLE_PROXY_TOKEN"
            ));
            Ok(())
        }
        ServeEvent::Serving { address, proxies } => {
            render::serving(&mut std::io::stderr(), address, *proxies)
        }
    })?;
    Ok(ExitStatus::Success)
}

fn run_one_shot(args: ProxyRunArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = ProxyRunSettings::resolve(args)?;
    let summary = service::run_one_shot(settings.request, |proxy| {
        render::one_shot_started(&mut std::io::stderr(), proxy)
    })?;
    if let Some((metrics, elapsed)) = summary {
        render::one_shot_summary(out, &metrics, elapsed)?;
    }
    Ok(ExitStatus::Success)
}

/// A duration given to a `porthole proxy` flag. A unit is required: these
/// flags once read a bare number as milliseconds, the rest of porthole as
/// seconds (see [`crate::cli::duration`]).
pub fn parse_flag_duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    parse_duration(text, BareNumber::Refused).with_context(|| format!("{flag} '{text}'"))
}

/// A flag's duration in whole milliseconds, as the Toxiproxy API takes it.
pub fn parse_flag_millis(flag: &str, text: &str) -> anyhow::Result<i64> {
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
