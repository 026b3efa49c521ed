//! `porthole proxy`: the API server (`serve`), the one-shot proxy (`run`),
//! and client verbs that drive a running server over its HTTP API.

use std::io::Write;

use anyhow::bail;
use serde_json::{Map, Value};

use crate::cli::args::ProxyApiArgs;
use crate::cli::args::{
    ProxyArgs, ProxyCommand, ProxyCreateArgs, ProxyDeleteArgs, ProxyListArgs, ProxyNameArgs,
    ProxyRunArgs, ProxyServeArgs, ProxyToxicAddArgs, ProxyToxicArgs, ProxyToxicCommand,
    ProxyToxicRemoveArgs, ProxyToxicUpdateArgs,
};
use crate::cli::proxy::{check_toxicity, parse_attributes, parse_flag_duration};
use crate::cli::settings::{ProxyRunSettings, ProxyServeSettings};
use crate::commands::{warn, ExitStatus};
use crate::proxy::client::{ApiClient, ClientError};
use crate::proxy::error::ProxyError;
use crate::proxy::registry::DEFAULT_LISTEN;
use crate::proxy::service::{self, ServeEvent, ServeOptions};
use crate::proxy::toxics::ToxicKind;
use crate::proxy::wire::ToxicRequestWire;
use crate::render::proxy as render;
use crate::shell;

/// Runs a `porthole proxy` subcommand.
pub fn proxy(args: ProxyArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let ProxyArgs { command } = args;
    // What a 404 is about, named in the message: the API's "proxy not
    // found" alone does not say which of the names typed it missed.
    let subject = match &*command {
        ProxyCommand::Inspect(args) | ProxyCommand::Toggle(args) => {
            Some(format!("proxy {}", shell::word(&args.name)))
        }
        ProxyCommand::Delete(args) => Some(format!("proxy {}", shell::word(&args.name))),
        ProxyCommand::Toxic(ProxyToxicArgs { command }) => Some(match command {
            ProxyToxicCommand::Add(args) => format!("proxy {}", shell::word(&args.proxy)),
            ProxyToxicCommand::Update(ProxyToxicUpdateArgs { proxy, name, .. })
            | ProxyToxicCommand::Remove(ProxyToxicRemoveArgs { proxy, name, .. }) => {
                format!("proxy {}, toxic {}", shell::word(proxy), shell::word(name))
            }
        }),
        _ => None,
    };
    // Likewise for a 409: which name is taken (a toxic named by default is
    // `TYPE_STREAM`).
    let taken = match &*command {
        ProxyCommand::Create(args) => Some(format!("proxy {}", shell::word(&args.name))),
        ProxyCommand::Toxic(ProxyToxicArgs { command: ProxyToxicCommand::Add(args) }) => {
            let stream = if args.upstream { "upstream" } else { "downstream" };
            // An empty `-n` is no name to the API either.
            let name = (args.name.clone())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| format!("{}_{stream}", args.toxic_type));
            Some(format!("proxy {}, toxic {}", shell::word(&args.proxy), shell::word(&name)))
        }
        _ => None,
    };
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
                match subject {
                    Some(subject) => warn(&format!("{subject}: {message}")),
                    None => warn(message),
                }
                Ok(ExitStatus::Failure)
            }
            // "Already exists" is an error (exit 2), named like a 404.
            Some(ClientError::Api { status: 409, .. }) => match taken {
                Some(taken) => Err(error.context(taken)),
                None => Err(error),
            },
            _ => Err(error),
        },
    }
}

/// The API client the `--url`, `--token` and `--timeout` flags describe.
fn client(api: &ProxyApiArgs) -> anyhow::Result<ApiClient> {
    let ProxyApiArgs { url, token, timeout } = api;
    // An empty TOXIPROXY_URL is unset: the default URL, not "no host".
    let url = crate::cli::settings::unless_empty_variable(Some(url.clone()), "TOXIPROXY_URL")
        .unwrap_or_else(|| crate::cli::args::DEFAULT_PROXY_API_URL.to_string());
    let timeout = parse_flag_duration("--timeout", timeout)?;
    if timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    // The token goes into a header line as given: a line break in it would
    // end the header and start another.
    if token.as_deref().is_some_and(|token| token.chars().any(char::is_control)) {
        bail!("--token must not contain control characters");
    }
    Ok(ApiClient::new(&url)?.with_timeout(timeout).with_token(token.clone()))
}

fn create(args: ProxyCreateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyCreateArgs { name, listen, upstream, api } = args;
    if crate::proxy::registry::upstream_port_is_zero(&upstream) {
        bail!(
            "--upstream {upstream}: port 0 cannot be connected to (every client would be refused)"
        );
    }
    if let Some(error) = crate::proxy::registry::upstream_host_error(&upstream) {
        bail!("--upstream '{upstream}': {error}");
    }
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

fn delete(args: ProxyDeleteArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyDeleteArgs { name, api } = args;
    client(&api)?.delete(&name)?;
    render::done(out, &format!("Deleted proxy {}", shell::word(&name)))?;
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
        toxicity: toxicity.as_deref().map(check_toxicity).transpose()?.map(f64::from),
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
        toxicity: toxicity.as_deref().map(check_toxicity).transpose()?.map(f64::from),
        ..ToxicRequestWire::default()
    };
    let toxic = client.update_toxic(&proxy, &name, &body)?;
    render::toxic_line(out, "Updated", &proxy, &toxic)?;
    Ok(())
}

fn toxic_remove(args: ProxyToxicRemoveArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ProxyToxicRemoveArgs { proxy, name, api } = args;
    client(&api)?.remove_toxic(&proxy, &name)?;
    render::done(
        out,
        &format!("Removed toxic {} from {}", shell::word(&name), shell::word(&proxy)),
    )?;
    Ok(())
}

/// Refuses an unknown type or attribute name before anything is sent: the
/// API, like Toxiproxy's, would create the toxic with the misspelt attribute
/// silently left at 0.
fn check_attribute_names(toxic_type: &str, attributes: &Map<String, Value>) -> anyhow::Result<()> {
    let Some(valid) = ToxicKind::attribute_names(toxic_type) else {
        bail!("unknown toxic type \"{toxic_type}\" (valid types: {})", ToxicKind::TYPES.join(", "));
    };
    for name in attributes.keys() {
        if !valid.contains(&name.as_str()) {
            if valid.is_empty() {
                bail!("toxic type {toxic_type} takes no attributes, got \"{name}\"");
            }
            bail!(
                "toxic type {toxic_type} has no attribute \"{name}\" (valid attributes: {})",
                valid.join(", ")
            );
        }
    }
    Ok(())
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
    let listen = options.listen.clone();
    let served = service::serve(options, |event| match event {
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
    });
    match served {
        Err(service::ServiceError::Listen { source, .. })
            if source.kind() == std::io::ErrorKind::AddrInUse =>
        {
            bail!("cannot listen on {listen}: address already in use{}", held_by(&listen))
        }
        other => other?,
    }
    Ok(ExitStatus::Success)
}

fn run_one_shot(args: ProxyRunArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = ProxyRunSettings::resolve(args)?;
    let summary = service::run_one_shot(settings.request, |proxy| {
        // Once the proxy took the upstream, and started anyway: the name
        // may resolve later (a container not up yet), but meanwhile every
        // client would be closed with no word why.
        if let Some(reason) = crate::proxy::registry::upstream_lookup_error(&proxy.upstream) {
            warn(&format!(
                "warning: --to {}: {reason}; every client is closed at once until it resolves",
                shell::word(&proxy.upstream)
            ));
        }
        render::one_shot_started(&mut std::io::stderr(), proxy)
    })
    .map_err(|error| match error {
        // The API's words, which name no flag; here the value came from one.
        service::ServiceError::Proxy(ProxyError::BadUpstream { .. }) => {
            anyhow::Error::new(error).context("--to")
        }
        service::ServiceError::Proxy(ProxyError::Listen {
            address: Some(ref address),
            ref reason,
        }) if reason.ends_with("address already in use") => {
            anyhow::anyhow!("{error}{}", held_by(address))
        }
        other => anyhow::Error::new(other),
    })?;
    if let Some((metrics, elapsed)) = summary {
        render::one_shot_summary(out, &metrics, elapsed)?;
    }
    Ok(ExitStatus::Success)
}

/// Who holds `address`, for a bind refused with "address already in use":
/// `; 127.0.0.1:8474 held by python3 (pid 4242)`, the listener on it or on
/// an address that overlaps it (`0.0.0.0`), as `check --bind` names it.
/// Empty when the address is a name or no listener is found (a socket that
/// is bound but not listening holds it).
fn held_by(address: &str) -> String {
    let Ok(address) = address.parse::<std::net::SocketAddr>() else { return String::new() };
    let system = crate::inventory::system::Machine;
    let Ok(snapshot) = crate::diagnose::listener_snapshot(&system, address.port()) else {
        return String::new();
    };
    snapshot
        .sockets
        .iter()
        .find(|socket| crate::diagnose::bind::overlaps(socket, address))
        .map(|socket| {
            format!("; {}", crate::diagnose::causes::listener_line(&snapshot.processes, socket))
        })
        .unwrap_or_default()
}
