//! Output of `porthole kill`: the processes about to be stopped, the
//! confirmation question, what each signal did, and who holds the port
//! afterwards, as text or one JSON object.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::model::termination::{
    supervisor_stop_command, Elsewhere, Fate, Holder, HolderKind, NamespaceInit, OtherKind,
    OtherSocket, Outcome, Plan, Target, Unanswered, Verification,
};
use crate::model::{Process, Socket};
use crate::render::json::SocketRecord;
use crate::render::sanitize::{sanitize, shell_line, Foreign};
use crate::render::table::Table;
use crate::render::{Format, Style};

/// Everything one `kill` run did, for the renderer.
#[derive(Debug)]
pub struct KillReport<'a> {
    pub plan: &'a Plan,
    pub dry_run: bool,
    /// Signals sent and their effect; `None` when nothing was sent.
    pub outcomes: Option<&'a [Outcome]>,
    pub verification: Option<&'a Verification>,
    /// Sockets on the ports that were left alone but keep them from being
    /// free (other protocols or families, bound-only sockets).
    pub others: &'a [OtherSocket],
    /// Listeners on the ports in other network namespaces, when nothing
    /// listened in the one porthole looked in.
    pub elsewhere: &'a [Elsewhere],
    /// The request's `-t`/`-u`/`-4`/`-6`, as flags to repeat in a printed
    /// command (`porthole kill PORT --netns NAME -t`).
    pub flags: &'a str,
    /// Seconds since the Unix epoch, for "running for".
    pub now: u64,
}

/// How long a process has been running, as `3h12m`, `2m05s` or `12s`.
pub fn running_for(process: &Process, now: u64) -> Option<String> {
    let seconds = now.checked_sub(process.start_time?)?;
    Some(if seconds >= 86_400 {
        format!("{}d{}h", seconds / 86_400, seconds % 86_400 / 3600)
    } else if seconds >= 3600 {
        format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60)
    } else if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds}s")
    })
}

/// Another user's text as an owned, terminal-safe cell.
fn foreign(text: &str) -> String {
    sanitize(text).into_owned()
}

/// The label of a process: `1234 (python3)`.
fn label(pid: u32, process: Option<&Process>) -> String {
    match process {
        Some(process) if !process.name.is_empty() => format!("{pid} ({})", process.name),
        _ => pid.to_string(),
    }
}

/// Advice lines for one target: supervisors and containers.
/// `caller_uid` is the uid porthole runs as: a user unit's stop command
/// depends on it.
pub fn target_hints(target: &Target, caller_uid: u32) -> Vec<String> {
    let mut hints = Vec::new();
    let name = label(target.pid, target.process.as_ref());
    if let Some(init) = &target.namespace_init {
        let process = target.process.as_ref();
        let owner = process
            .and_then(|p| p.container.as_ref().map(|id| format!(" (container {id})")))
            .or_else(|| process.and_then(|p| p.unit.as_ref().map(|unit| format!(" ({unit})"))))
            .unwrap_or_default();
        hints.push(format!(
            "{name} is PID 1 of a PID namespace{owner}: stopping it ends every process in that namespace ({} now)",
            init.processes
        ));
    }
    if let Some(hint) = &target.container_hint {
        if hint.forwarder {
            // A command that runs as printed: the id when Docker named it,
            // else Docker's own lookup inside the command. Podman's
            // forwarder (rootlessport) gets its own lookup, in words.
            let port = target.ports.first().copied().unwrap_or(0);
            let podman =
                target.process.as_ref().is_some_and(|p| p.name.starts_with("rootlessport"));
            let stop = match &hint.container {
                Some(id) => format!("docker stop {id}"),
                None if podman => format!(
                    "`podman port --all` names the container that publishes port {port}; stop that one with podman stop"
                ),
                None => format!("docker stop $(docker ps --quiet --filter publish={port})"),
            };
            hints.push(format!(
                "{name} forwards a container's published port; stopping it does not stop the container: {stop}"
            ));
        } else if let Some(id) = &hint.container {
            hints.push(format!(
                "{name} runs in container {id}; its restart policy may start it again: docker stop {id}"
            ));
        }
    }
    match target.process.as_ref().map(|p| p.state) {
        Some('T') => hints.push(format!(
            "{name} is stopped (SIGSTOP or Ctrl-Z): SIGCONT follows the signal so that it can act on it"
        )),
        Some('t') => hints.push(format!(
            "{name} is stopped by a debugger: it acts on no signal until the debugger resumes it, except SIGKILL"
        )),
        Some('D') => hints.push(format!(
            "{name} is in uninterruptible sleep (state D: waiting in the kernel, for I/O such as a \
             hung NFS or FUSE mount, or for a vfork child to exec): a signal it handles acts only \
             once that wait ends (a fatal one ends a killable wait), so SIGTERM may sit out the \
             grace"
        )),
        _ => {}
    }
    if let Some(frozen) = &target.frozen {
        let effect = if frozen.kill_ends_it {
            "a signal it catches waits until it is thawed (SIGKILL and other fatal signals still end it)"
        } else {
            "no signal acts on it, SIGKILL included, until it is thawed"
        };
        hints.push(format!(
            "{name} is frozen by the cgroup freezer: {effect}: {}",
            frozen.thaw_command()
        ));
    }
    if let Some(parent) = target.stopped_with {
        let user = target
            .process
            .as_ref()
            .map_or_else(String::new, |p| p.user.clone().unwrap_or_else(|| p.uid.to_string()));
        hints.push(format!(
            "{name} runs as {user} but shares its listening socket with its parent {parent}, \
             which porthole stops: it is left to stop with it (no --force needed), and gets \
             SIGKILL only if it outlives the grace"
        ));
    }
    if let Some(remark) = target.process.as_ref().and_then(Process::exe_remark) {
        hints.push(format!("{name}: {remark}"));
    }
    if let Some(process) = target.process.as_ref() {
        let unit = process.unit.as_deref().unwrap_or_default();
        if !unit.starts_with("user@") {
            if let Some(command) = process.stop_service_command(caller_uid) {
                hints.push(format!("{name} belongs to {unit}; systemd may restart it: {command}"));
            }
        }
    }
    hints
}

fn listens_label(plan: &Plan, pid: u32) -> String {
    let mut labels: Vec<String> = plan
        .listeners
        .iter()
        .filter(|s| s.owners.contains(&pid))
        .map(|s| {
            let local = s.local.map_or_else(String::new, |l| l.to_string());
            match namespace_label(plan, s) {
                Some(namespace) => format!("{local}/{} in {namespace}", s.protocol),
                None => format!("{local}/{}", s.protocol),
            }
        })
        .collect();
    labels.dedup();
    labels.join(", ")
}

/// The namespace of a listener outside porthole's own, as `netns NAME`,
/// `container ID` or `pid N (NAME)`; `None` for porthole's own namespace.
fn namespace_label(plan: &Plan, socket: &Socket) -> Option<String> {
    let namespace = plan.namespaces.iter().find(|n| Some(n.inode) == socket.net_namespace)?;
    (!namespace.is_current).then(|| foreign(&namespace.hint(&plan.processes)))
}

/// Writes the processes about to be stopped (text only; JSON is written
/// once, at the end, by [`write_report`]).
pub fn write_plan(out: &mut dyn Write, plan: &Plan, now: u64, style: Style) -> std::io::Result<()> {
    // Only the ports something listens on: a port of the request with no
    // listener is named as such, not put in the "Listening on" list.
    let (listened, idle): (Vec<u16>, Vec<u16>) = plan
        .ports
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<u16>>()
        .into_iter()
        .partition(|port| plan.listeners.iter().any(|l| l.local_port() == *port));
    let join = |ports: &[u16]| port_list(ports);
    let mut header = format!(
        "Listening on {} {}",
        if listened.len() == 1 { "port" } else { "ports" },
        join(&listened)
    );
    if !idle.is_empty() {
        header.push_str(&format!(" (nothing listens on {})", join(&idle)));
    }
    writeln!(out, "{}", style.bold(&format!("{header}:")))?;
    let mut table = Table::new(&["PID", "USER", "UP", "PROCESS", "LISTENS", "UNIT", "COMMAND"]);
    for target in &plan.targets {
        let process = target.process.as_ref();
        let unit = process
            .and_then(|p| {
                p.unit.clone().or_else(|| p.container.as_ref().map(|c| format!("container {c}")))
            })
            .unwrap_or_else(|| "-".into());
        // User, name, unit and command line are other users' text.
        table.push(vec![
            target.pid.to_string(),
            process.and_then(|p| p.user.as_deref()).map_or_else(|| "?".into(), foreign),
            process.and_then(|p| running_for(p, now)).unwrap_or_else(|| "?".into()),
            process.map_or_else(|| "?".into(), |p| foreign(&p.shown_name())),
            listens_label(plan, target.pid),
            foreign(&unit),
            // Newlines, CRs and tabs in an argument are shown escaped, as `ls
            // -l` shows them, so the table stays one line a process.
            process.map_or_else(String::new, |p| foreign(&p.command_line())),
        ]);
    }
    // The command line says which process this is: wrapped, never cut. No
    // process seen (their owners are hidden): no header over nothing, the
    // lines below say why.
    if !plan.targets.is_empty() {
        table.write_wrapped(out, style.width, "  ")?;
    }
    // Why the owners are hidden decides what helps: root, or the host's
    // PID namespace.
    let why = if !plan.owner_gaps.is_empty() {
        crate::model::OwnerGap::describe_all(&plan.owner_gaps).join("; ")
    } else if plan.privileged {
        "no process porthole can see holds it (one in another PID namespace, or one that is \
         exiting)"
            .to_string()
    } else {
        "run as root to stop it".to_string()
    };
    for socket in &plan.hidden {
        let on = socket.local.map_or_else(String::new, |l| format!("{l}/{}", socket.protocol));
        if plan.ownerless() {
            writeln!(
                out,
                "  {}: {on}: {why}; there is no process to signal",
                style.yellow("no owner")
            )?;
        } else {
            // The kernel names the socket's user even when its process is
            // out of sight: whose process it is tells who can stop it.
            let whose = match plan.user_names.get(&socket.uid) {
                _ if socket.uid == u32::MAX => String::new(),
                Some(user) => {
                    format!("; the socket belongs to user {} (uid {})", foreign(user), socket.uid)
                }
                None => format!("; the socket belongs to uid {}", socket.uid),
            };
            // The run that sees and stops it, as this caller reaches root.
            let as_root = if plan.privileged {
                String::new()
            } else {
                format!("; as root: {}", crate::termination::porthole_kill_command_with(plan))
            };
            writeln!(
                out,
                "  {}: the owner of {on} cannot be seen: {why}{whose}{as_root}",
                style.yellow("hidden")
            )?;
        }
    }
    for target in &plan.targets {
        if let Some(refusal) = &target.refusal {
            writeln!(
                out,
                "  {}: {}: {}",
                style.yellow("not stopping"),
                Foreign(&label(target.pid, target.process.as_ref())),
                Foreign(&refusal.describe())
            )?;
        }
    }
    for target in plan.targets.iter() {
        for hint in target_hints(target, plan.caller_uid) {
            writeln!(out, "  note: {}", Foreign(&hint))?;
        }
    }
    Ok(())
}

/// Writes the confirmation question (no newline: the answer follows on the
/// same line). The command reads the answer.
pub fn write_question(out: &mut dyn Write, count: usize) -> std::io::Result<()> {
    write!(out, "Stop {count} process{}? [y/N] ", if count == 1 { "" } else { "es" })?;
    out.flush()
}

fn fate_text(outcome: &Outcome, target: Option<&Target>, plan: &Plan) -> String {
    let privileged = plan.privileged;
    let sent: Vec<String> = outcome.signals.iter().map(ToString::to_string).collect();
    let name = label(outcome.pid, target.and_then(|t| t.process.as_ref()));
    let seconds = |d: &std::time::Duration| format!("{:.2}s", d.as_secs_f64());
    // A namespace's init without a SIGTERM handler never saw the signal:
    // the kernel dropped it, so "it ignored SIGTERM" would be untrue.
    let dropped_term =
        target.and_then(|t| t.namespace_init.as_ref()).is_some_and(|init| !init.catches_term);
    let frozen = target.and_then(|t| t.frozen.as_ref());
    if let Some(parent) = outcome.via_parent {
        match &outcome.fate {
            Fate::Exited { after } => {
                return format!(
                    "{name}: stopped with its parent {parent}: exited after {}",
                    seconds(after)
                )
            }
            Fate::Killed { after } => {
                return format!(
                    "Sent SIGKILL to {name}: it outlived its parent {parent}'s stop; SIGKILL \
                     stopped it after {}",
                    seconds(after)
                )
            }
            Fate::Survived if sent.is_empty() => {
                return format!("{name}: left to its parent {parent}: still running")
            }
            _ => {}
        }
    }
    match &outcome.fate {
        Fate::Killed { after } if frozen.is_some() => format!(
            "Sent {} to {name}: it is frozen by the cgroup freezer, so SIGTERM waited; SIGKILL stopped it after {}",
            sent.join(", then "),
            seconds(after)
        ),
        Fate::Survived if !sent.is_empty() && frozen.is_some() => format!(
            "Sent {} to {name}: still running, frozen by the cgroup freezer; thaw it and the signals act: {}",
            sent.join(", then "),
            frozen.map(crate::model::termination::Frozen::thaw_command).unwrap_or_default()
        ),
        Fate::Killed { after } if dropped_term => format!(
            "Sent {} to {name}: the kernel does not deliver SIGTERM to a PID namespace's init that has no handler for it; SIGKILL stopped it after {}",
            sent.join(", then "),
            seconds(after)
        ),
        Fate::Exited { after } => {
            format!("Sent {} to {name}: exited after {}", sent.join(", then "), seconds(after))
        }
        Fate::Killed { after } => format!(
            "Sent {} to {name}: {}; SIGKILL stopped it after {}",
            sent.join(", then "),
            unanswered_text(outcome.unanswered),
            seconds(after)
        ),
        Fate::Survived if sent.is_empty() => format!("{name}: nothing sent"),
        Fate::Survived => format!("Sent {} to {name}: still running", sent.join(", then ")),
        Fate::NotPermitted if privileged => {
            format!("{name}: the kernel refused the signal (EPERM) even to root")
        }
        Fate::NotPermitted => {
            let command = crate::termination::porthole_kill_command_with(plan);
            format!(
                "{name}: not permitted to signal it (another user's process; only root may); \
                 as root: {command}"
            )
        }
        Fate::AlreadyGone => format!("{name}: had already exited"),
        Fate::Failed { errno } => {
            format!("{name}: kill failed: {}", std::io::Error::from_raw_os_error(*errno))
        }
    }
}

/// Why SIGTERM had not ended a process SIGKILL then stopped, as the kernel
/// told: only a process that set SIGTERM to `SIG_IGN` ignored it.
fn unanswered_text(unanswered: Option<Unanswered>) -> String {
    match unanswered {
        Some(Unanswered::Traced { tracer }) => format!(
            "it was stopped by its tracer {tracer} (a debugger or strace), which holds back \
             every signal but SIGKILL"
        ),
        Some(Unanswered::Blocked) => {
            "it blocks SIGTERM (sigprocmask), which was left pending".into()
        }
        Some(Unanswered::Uninterruptible) => {
            "it waited in uninterruptible sleep (state D) with SIGTERM pending".into()
        }
        Some(Unanswered::Ignored) => "it ignores SIGTERM (SIG_IGN)".into(),
        Some(Unanswered::Handled) => "it handles SIGTERM but had not exited when the grace \
                                      ended (--grace gives it longer)"
            .into(),
        None => "it had not exited on SIGTERM".into(),
    }
}

/// For a survivor that was sent only a signal it may catch or ignore
/// (`--signal TERM`, `HUP`, …), the command that stops it for good: the
/// kernel delivers SIGKILL whatever the process does. Empty otherwise: one
/// that outlived SIGKILL too is stuck in the kernel, and a kill would not
/// help.
fn survivor_fix(holder: &Holder, outcomes: &[Outcome]) -> String {
    let Some(pid) = holder.pid.filter(|_| holder.kind == HolderKind::Survivor) else {
        return String::new();
    };
    let Some(outcome) = outcomes.iter().find(|o| o.pid == pid) else { return String::new() };
    let killed = outcome.signals.iter().any(|s| s.number == libc::SIGKILL);
    if outcome.signals.is_empty() || killed {
        return String::new();
    }
    let sent: Vec<String> = outcome.signals.iter().map(ToString::to_string).collect();
    format!(" {}; SIGKILL stops it: kill -KILL {pid}", sent.join(", then "))
}

fn holder_text(holder: &Holder, privileged: bool, caller_uid: u32) -> String {
    let who = match holder.pid {
        Some(pid) => label(pid, holder.process.as_ref()),
        None if privileged => {
            "no process porthole can see (one in another PID namespace, or one that is still \
             exiting)"
                .into()
        }
        None => "a process porthole cannot see (run as root)".into(),
    };
    let on =
        holder.socket.local.map_or_else(String::new, |l| format!("{l}/{}", holder.socket.protocol));
    match holder.kind {
        HolderKind::Survivor => format!("{on} is still held by {who}, which survived"),
        HolderKind::Refused => format!("{on} is still held by {who}, which porthole did not stop"),
        HolderKind::Hidden => format!("{on} is still held by {who}"),
        HolderKind::AlreadyRunning => format!(
            "{on} is now held by {who}, which was running before porthole started but was not \
             listening when porthole looked (no restart); run porthole kill again to stop it"
        ),
        HolderKind::Inherited => {
            let mut text = format!("{on} is still held by {who}");
            if let Some(parent) = &holder.parent {
                text.push_str(&format!(", started by {} ({})", parent.pid, parent.command_line()));
            }
            if holder.parent_unseen {
                // porthole (not root) could not see the parent hold the
                // socket, but it runs on and the socket lives on in a new
                // child: a master re-forking its workers.
                text.push_str(&format!(
                    ", which is still running: another user's process, whose sockets porthole \
                     cannot see as this user; a prefork master that holds the same socket starts \
                     a new worker for each one stopped, so stopping workers does not free the \
                     port; stop it instead, as root: {}",
                    holder.parent_stop_command.clone().unwrap_or_default()
                ));
                return text;
            }
            if holder.parent_is_target {
                // The parent is still here and hands the socket on: another
                // `porthole kill` would stop this one and it would start the
                // next.
                text.push_str(
                    ", which holds the very socket a process porthole signalled or refused \
                     listened on: that process is still running and handed the socket to this \
                     one after the signal (a reload, a replaced worker); it keeps the port held \
                     until it stops",
                );
                return text;
            }
            // The socket, not the parent, is the point here: "started by P,
            // which holds the very socket" read as if P held it.
            let mut text = format!(
                "{on} is still held by {who}, which holds the very socket a stopped process \
                 listened on (it inherited the descriptor: a child forked on SIGTERM, or one \
                 passed over a Unix socket)"
            );
            if let Some(parent) = &holder.parent {
                text.push_str(&format!(
                    "; it is a child of {} ({})",
                    parent.pid,
                    parent.command_line()
                ));
            }
            text.push_str("; nothing restarted it; run porthole kill again to stop it");
            text
        }
        HolderKind::NewProcess => {
            let mut text = format!("{on} was taken again by a new process, {who}");
            if let Some(parent) = &holder.parent {
                text.push_str(&format!(", started by {} ({})", parent.pid, parent.command_line()));
            }
            let command = holder.process.as_ref().and_then(|p| p.stop_service_command(caller_uid));
            if let Some(init) = holder.parent.as_ref().filter(|_| holder.parent_is_init) {
                text.push_str(": PID 1, which started the stopped process too, restarted it");
                match command {
                    Some(command) => text.push_str(&format!("; stop the unit instead: {command}")),
                    None if init.name == "systemd" => text.push_str(&format!(
                        "; porthole never signals PID 1; find the unit that restarts it with: \
                         systemctl status {}",
                        holder.pid.unwrap_or_default()
                    )),
                    None => text.push_str(
                        "; porthole never signals PID 1, and no signal sent from inside its PID \
                         namespace ends it unless it handles that signal: stop the restart in \
                         PID 1's own configuration, or stop this container (its PID namespace) \
                         from outside",
                    ),
                }
                return text;
            }
            if holder.parent.is_none() && command.is_none() {
                // An orphan (or init's child outside any unit): no
                // supervisor can be named, and the stopped process itself
                // may have spawned it as it exited.
                text.push_str(
                    ", with no supervisor porthole can name (its parent has exited or is \
                     init; the stopped process may have started it as it exited); run porthole \
                     kill again to stop it",
                );
                return text;
            }
            text.push_str(": a supervisor restarted it");
            match command {
                Some(command) => {
                    text.push_str(&format!("; stop the unit instead: {command}"));
                }
                _ => {
                    if let Some(parent) = &holder.parent {
                        text.push_str(&format!("; stop the supervisor ({}) instead", parent.pid));
                        if let Some(init) = &holder.parent_init {
                            text.push_str(&namespace_init_stop(parent.pid, init));
                        }
                        // Another user's supervisor, porthole not root:
                        // only root may signal it (the command says how,
                        // through sudo or su, or as it is where neither is).
                        let out_of_reach = !privileged && parent.uid != caller_uid;
                        if let Some(command) =
                            holder.parent_stop_command.as_deref().filter(|_| out_of_reach)
                        {
                            text.push_str(&format!(", as root: {command}"));
                        }
                    }
                }
            }
            text
        }
    }
}

/// What stopping a supervisor that is PID 1 of a PID namespace means, and
/// the `kill` that does it from here (SIGKILL when the kernel would drop
/// SIGTERM), appended to the advice to stop it.
fn namespace_init_stop(pid: u32, init: &NamespaceInit) -> String {
    let delivery = if init.catches_term {
        "it handles SIGTERM"
    } else {
        "the kernel drops SIGTERM sent to it from here, as it has no handler for it"
    };
    format!(
        "; it is PID 1 of a PID namespace, so stopping it ends all {} process(es) in that \
         namespace, and {delivery}: {}",
        init.processes,
        supervisor_stop_command(pid, Some(init))
    )
}

/// Writes what happened after the plan: signals, fates, the port's state.
pub fn write_results(
    out: &mut dyn Write,
    report: &KillReport<'_>,
    style: Style,
) -> std::io::Result<()> {
    if report.dry_run {
        for &port in &report.plan.ports {
            if report.others.iter().any(|o| o.socket.local_port() == port) {
                writeln!(out, "Also on port {port}, left alone:")?;
                write_others(out, report.others, port)?;
            }
        }
        writeln!(out, "Dry run: no signal was sent.")?;
        return Ok(());
    }
    for outcome in report.outcomes.unwrap_or_default() {
        let target = report.plan.targets.iter().find(|t| t.pid == outcome.pid);
        writeln!(out, "{}", Foreign(&fate_text(outcome, target, report.plan)))?;
    }
    if let Some(verification) = report.verification {
        for holder in &verification.holders {
            let mut text = holder_text(holder, report.plan.privileged, report.plan.caller_uid);
            text.push_str(&survivor_fix(holder, report.outcomes.unwrap_or_default()));
            writeln!(out, "{}", style.red(&sanitize(&text)))?;
        }
        // Ports nothing listened on to begin with (a range's idle ports) are
        // said free on one line, not one line each.
        let idle_free: Vec<u16> = verification
            .free
            .iter()
            .copied()
            .filter(|&port| !report.plan.listeners.iter().any(|l| l.local_port() == port))
            .filter(|&port| !report.others.iter().any(|o| o.socket.local_port() == port))
            .collect();
        if idle_free.len() > 1 {
            writeln!(
                out,
                "{}",
                style.green(&format!(
                    "Ports {} are free{}.",
                    port_list(&idle_free),
                    where_free(report.plan)
                ))
            )?;
        }
        for &port in &verification.free {
            if idle_free.len() > 1 && idle_free.contains(&port) {
                continue;
            }
            if report.others.iter().any(|o| o.socket.local_port() == port) {
                let listened = report.plan.listeners.iter().any(|l| l.local_port() == port);
                writeln!(
                    out,
                    "{}",
                    style.yellow(&not_free_heading(report.others, port, listened))
                )?;
                write_others(out, report.others, port)?;
            } else {
                writeln!(
                    out,
                    "{}",
                    style.green(&format!("Port {port} is free{}.", where_free(report.plan)))
                )?;
            }
        }
        if !verification.free.is_empty() {
            let watched = format!("{:.1} s", verification.watched.as_secs_f64());
            for parent in &verification.lingering_parents {
                let pid = parent.process.pid;
                writeln!(
                    out,
                    "  note: {pid} ({}), which started it, is still running; nothing took the \
                     port within {watched}, but if it restarts servers more slowly, stop it \
                     instead (or watch longer with --settle){}",
                    Foreign(&parent.process.command_line()),
                    parent
                        .namespace_init
                        .as_ref()
                        .map(|init| namespace_init_stop(pid, init))
                        .unwrap_or_default()
                )?;
            }
            if let Some(init) = &verification.init_parent {
                writeln!(
                    out,
                    "  note: PID 1 ({}) started it and is still running; nothing took the port \
                     within {watched}, but if it restarts servers more slowly (watch longer with \
                     --settle), porthole cannot stop it: it never signals PID 1, and a signal \
                     from inside its PID namespace reaches it only through a handler; stop the \
                     restart in its configuration, or the container from outside",
                    Foreign(&init.command_line())
                )?;
            }
        }
    }
    Ok(())
}

/// Writes "nothing listens" for an empty plan (text), what else still
/// uses the ports, and listeners of other namespaces with the command that
/// reaches them.
pub fn write_nothing(out: &mut dyn Write, report: &KillReport<'_>) -> std::io::Result<()> {
    let (plan, others) = (report.plan, report.others);
    let (quiet, used): (Vec<u16>, Vec<u16>) =
        plan.ports.iter().partition(|&&port| !others.iter().any(|o| o.socket.local_port() == port));
    let (quiet, reachable): (Vec<u16>, Vec<u16>) = quiet
        .into_iter()
        .partition(|&port| !report.elsewhere.iter().any(|e| e.socket.local_port() == port));
    for port in reachable {
        writeln!(
            out,
            "Nothing listens on port {port} in {}; another namespace has it:",
            looked_in(plan)
        )?;
        for other in report.elsewhere.iter().filter(|e| e.socket.local_port() == port) {
            let command = kill_command(other, port, report.flags, &report.plan.program);
            writeln!(out, "  {}", elsewhere_text(other, command.as_deref()))?;
        }
    }
    if !quiet.is_empty() {
        writeln!(
            out,
            "Nothing listens on {} {}.",
            if quiet.len() == 1 { "port" } else { "ports" },
            port_list(&quiet)
        )?;
    }
    for port in used {
        if others.iter().any(|o| o.socket.local_port() == port && o.kind == OtherKind::NotSelected)
        {
            writeln!(out, "No selected listener on port {port}, but it is not free:")?;
        } else {
            writeln!(out, "Nothing listens on port {port}, but it is not free:")?;
        }
        write_others(out, others, port)?;
    }
    Ok(())
}

/// Ports as people write them: runs of three or more consecutive ports as
/// `LOW-HIGH` (`3000-3010, 3012`), so a range given to `kill` reads back
/// as one.
pub fn port_list(ports: &[u16]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut index = 0;
    while index < sorted.len() {
        let mut end = index;
        while end + 1 < sorted.len() && sorted[end + 1] == sorted[end] + 1 {
            end += 1;
        }
        if end - index >= 2 {
            parts.push(format!("{}-{}", sorted[index], sorted[end]));
        } else {
            parts.extend(sorted[index..=end].iter().map(u16::to_string));
        }
        index = end + 1;
    }
    parts.join(", ")
}

/// Where an empty plan looked: "this network namespace", or the one
/// `--netns NAME|PATH` named.
fn looked_in(plan: &Plan) -> String {
    match plan.namespaces.iter().find(|n| !n.is_current) {
        Some(namespace) => match &namespace.name {
            Some(name) => format!("netns {}", foreign(name)),
            None => format!(
                "network namespace {} ({})",
                namespace.inode,
                foreign(&namespace.hint(&plan.processes))
            ),
        },
        None => "this network namespace".to_string(),
    }
}

/// Where a port was checked, after "is free": nothing for porthole's own
/// namespace, the namespace `--netns NAME|PATH` named, or every one.
fn where_free(plan: &Plan) -> String {
    match plan.namespaces.as_slice() {
        [one] if !one.is_current => format!(" in {}", looked_in(plan)),
        [_, _, ..] => " in every network namespace".to_string(),
        _ => String::new(),
    }
}

/// One listener of another namespace: where, whose, and `command` (the one
/// that stops it, or that shows it).
pub(crate) fn elsewhere_text(other: &Elsewhere, command: Option<&str>) -> String {
    let socket = &other.socket;
    let on = socket.local.map_or_else(String::new, |l| format!("{l}/{}", socket.protocol));
    let processes: BTreeMap<u32, Process> =
        other.processes.iter().map(|p| (p.pid, p.clone())).collect();
    let place = match &other.namespace {
        // Asked about a named namespace, the listener is in porthole's own.
        Some(namespace) if namespace.is_current => "the current namespace".to_string(),
        Some(namespace) => namespace.hint(&processes),
        None => "another namespace".to_string(),
    };
    let who = if socket.owners.is_empty() {
        "an owner porthole cannot see".to_string()
    } else {
        socket
            .owners
            .iter()
            .map(|&pid| label(pid, processes.get(&pid)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Escaped here, the prose as other users' text and the command so
    // that it still runs as printed; the caller writes the line as is.
    let prose = format!("{on} in {place}, held by {who}");
    match command {
        Some(command) => format!("{}: {}", Foreign(&prose), shell_line(command)),
        None => format!("{} (porthole cannot name a way into it)", Foreign(&prose)),
    }
}

/// `porthole kill PORT --netns ARG [FLAGS]`, quoted for a shell, porthole
/// called `program`.
pub fn kill_command(other: &Elsewhere, port: u16, flags: &str, program: &str) -> Option<String> {
    let argument = other.netns_argument.as_deref()?;
    // A name with control characters is written with printf so the line
    // runs as printed and shows no raw escape.
    Some(format!(
        "{program} kill {port} {}{flags}",
        crate::shell::option_with_value("--netns", argument)
    ))
}

/// The line above the sockets that keep a port from being free after the
/// run.
fn not_free_heading(others: &[OtherSocket], port: u16, listened: bool) -> String {
    let any_more = if listened { " any more" } else { "" };
    if others.iter().any(|o| o.socket.local_port() == port && o.kind == OtherKind::NotSelected) {
        format!("No selected listener is left on port {port}, but it is not free:")
    } else {
        format!("Nothing listens on port {port}{any_more}, but it is not free:")
    }
}

/// One line per socket left alone on `port`: where, whose, and why it
/// was not stopped.
fn write_others(out: &mut dyn Write, others: &[OtherSocket], port: u16) -> std::io::Result<()> {
    let on_port = |o: &&OtherSocket| o.socket.local_port() == port;
    for other in others.iter().filter(on_port).filter(|o| o.kind != OtherKind::Closing) {
        let socket = &other.socket;
        let on = socket.local.map_or_else(String::new, |l| format!("{l}/{}", socket.protocol));
        let who = if socket.owners.is_empty() {
            "an owner porthole cannot see".to_string()
        } else {
            socket
                .owners
                .iter()
                .map(|&pid| {
                    let process = other.processes.iter().find(|p| p.pid == pid);
                    match process.and_then(|p| p.user.as_deref()) {
                        Some(user) => format!("{} user {user}", label(pid, process)),
                        None => label(pid, process),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let why = match other.kind {
            OtherKind::NotSelected => {
                "listening, left out by the protocol and family flags (-t, -u, -4, -6)"
            }
            OtherKind::BoundOnly => {
                "bound but not listening: connections are refused, but nothing else can bind \
                 the port (porthole kill stops listeners only)"
            }
            OtherKind::Connected => {
                "connected, not listening (a client's end, or a connection kept after its \
                 listener closed): nothing else can bind the port while it lasts (porthole kill \
                 stops listeners only)"
            }
            OtherKind::Hold => {
                let pids: Vec<String> = socket.owners.iter().map(u32::to_string).collect();
                writeln!(
                    out,
                    "  {on} held by {}: a reservation by porthole free --hold, not listening: a \
                     server that sets SO_REUSEADDR binds the port now (the holder then exits); \
                     to end the hold: kill {}",
                    Foreign(&who),
                    pids.join(" ")
                )?;
                continue;
            }
            // Said once for all of them, below.
            OtherKind::Closing => continue,
        };
        writeln!(out, "  {on} held by {}: {why}", Foreign(&who))?;
    }
    let closing: Vec<&OtherSocket> =
        others.iter().filter(on_port).filter(|o| o.kind == OtherKind::Closing).collect();
    if !closing.is_empty() {
        writeln!(out, "  {}", closing_text(&closing))?;
    }
    Ok(())
}

/// One line for the connections a stopped server left closing on a port:
/// how many in which state, and who can bind the port meanwhile.
fn closing_text(closing: &[&OtherSocket]) -> String {
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for other in closing {
        *states.entry(other.socket.state.to_string()).or_default() += 1;
    }
    let states: Vec<String> =
        states.iter().map(|(state, count)| format!("{state} {count}")).collect();
    format!(
        "{} connection(s) still closing ({}), held by no process: a new server binds the port \
         now only if both it and the stopped server set SO_REUSEADDR (most servers do), \
         otherwise once they end (TIME-WAIT lasts 60 s, an orphaned FIN-WAIT-2 \
         net.ipv4.tcp_fin_timeout)",
        closing.len(),
        states.join(", ")
    )
}

/// `porthole kill --json`.
#[derive(Debug, Serialize)]
pub struct KillRecord {
    pub schema_version: u32,
    pub ports: Vec<u16>,
    pub dry_run: bool,
    /// Something listened on a requested port when porthole looked.
    pub listening: bool,
    pub listeners: Vec<SocketRecord>,
    pub targets: Vec<TargetRecord>,
    /// Listeners whose owner could not be seen.
    pub hidden_owners: usize,
    /// Why (`not_root`, `own_user_unreadable`, `refused_to_root`, `hidepid`,
    /// `other_pid_namespace`, `no_process`); empty when every owner was
    /// seen.
    pub hidden_owner_reasons: Vec<&'static str>,
    /// Every requested port is free after the run: no selected listener
    /// took it back and no socket in `other_sockets` holds it (`null` when
    /// nothing was sent). The exit code says only whether the selected
    /// listeners are gone.
    pub freed: Option<bool>,
    /// The requested ports that are free after the run, in that sense.
    pub free_ports: Option<Vec<u16>>,
    pub holders_after: Vec<HolderRecord>,
    /// How long the ports were watched for a restart (`null` when nothing
    /// was sent).
    pub watched_ms: Option<u64>,
    /// Parents of stopped processes still running after the watch (not
    /// porthole's own shell): possibly a supervisor slower than the watch.
    pub parents_still_running: Vec<ParentRecord>,
    /// The command line of PID 1 when it started a stopped process, is no
    /// host's init and still runs after a quiet watch: a container's restart
    /// loop that porthole never signals (`null` otherwise).
    pub init_still_running: Option<String>,
    /// Sockets on the ports left alone although they keep a port from
    /// being free.
    pub other_sockets: Vec<OtherSocketRecord>,
    /// Listeners on the ports in other network namespaces, when none
    /// listened in the one porthole looked in.
    pub elsewhere: Vec<ElsewhereRecord>,
}

#[derive(Debug, Serialize)]
pub struct ElsewhereRecord {
    pub socket: SocketRecord,
    /// Who lives in that namespace: `netns NAME`, `container ID`, `pid N
    /// (NAME)`.
    pub net_namespace_hint: Option<String>,
    /// What `--netns` takes to reach it.
    pub netns_argument: Option<String>,
    /// The command that stops it (`kill`), or that shows it (`porthole
    /// PORT`).
    pub command: Option<String>,
}

impl ElsewhereRecord {
    /// `other` with `command`, the one that stops it (`kill`) or shows it
    /// (`porthole PORT`).
    pub fn new(other: &Elsewhere, command: Option<String>) -> Self {
        let processes: BTreeMap<u32, Process> =
            other.processes.iter().map(|p| (p.pid, p.clone())).collect();
        ElsewhereRecord {
            socket: SocketRecord::from_socket(&other.socket, &processes),
            net_namespace_hint: other.namespace.as_ref().map(|n| n.hint(&processes)),
            netns_argument: other.netns_argument.clone(),
            command,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct OtherSocketRecord {
    /// `not_selected` (another protocol or family than `-t/-u/-4/-6`
    /// chose), `bound_only` (bound without `listen()`), `connected` (a
    /// connected socket on a port nothing listens on), `closing` (a
    /// gone server's connection that only the kernel still holds) or
    /// `hold` (a `porthole free --hold` reservation).
    pub kind: &'static str,
    pub socket: SocketRecord,
}

#[derive(Debug, Serialize)]
pub struct ParentRecord {
    pub pid: u32,
    pub name: String,
    pub cmdline: String,
    /// The `kill` that stops it as it runs from here (`kill -KILL PID` for
    /// a PID namespace's init without a SIGTERM handler).
    pub stop_command: String,
    /// Processes in its PID namespace when it is that namespace's init
    /// (stopping it ends them all); `null` otherwise.
    pub namespace_processes: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct TargetRecord {
    pub pid: u32,
    pub name: Option<String>,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub cmdline: Option<String>,
    /// The arguments exactly (an argument may contain spaces or be empty).
    pub argv: Option<Vec<String>>,
    pub exe: Option<String>,
    /// The executable was deleted or replaced after the start.
    pub exe_deleted: Option<bool>,
    /// `exe` is a path in the process's own mount namespace; `exe_here`
    /// is where it is from porthole's.
    pub exe_other_mount_namespace: Option<bool>,
    pub exe_here: Option<String>,
    pub running_seconds: Option<u64>,
    pub unit: Option<String>,
    pub container: Option<String>,
    pub ports: Vec<u16>,
    /// `stop`, or `refused` with `refusal` saying why.
    pub action: &'static str,
    /// `pid_1`, `itself`, `parent`, `ancestor`, `kernel_thread`, `other_user`,
    /// `namespace_init`.
    pub refusal: Option<&'static str>,
    pub refusal_reason: Option<String>,
    pub hints: Vec<String>,
    /// For the init of a PID namespace: the processes in that namespace,
    /// all of which end with it.
    pub namespace_processes: Option<usize>,
    /// The cgroup freezer holds the process: signals wait until the thaw.
    pub frozen: bool,
    /// Another user's process left to stop with this parent, a target that
    /// holds the same listening socket (a prefork master's worker).
    pub stopped_with: Option<u32>,
    #[serde(flatten)]
    pub bytes: super::json::ProcessBytes,
    /// The command that thaws it, when `frozen`.
    pub thaw_command: Option<String>,
    /// Signals sent, e.g. `["TERM", "KILL"]`.
    pub signals: Vec<String>,
    /// `exited`, `killed`, `survived`, `not_permitted`, `already_gone`,
    /// `failed`; `null` when nothing was sent.
    pub outcome: Option<&'static str>,
    pub exited_after_ms: Option<u64>,
    /// Why SIGTERM had not ended it when SIGKILL was sent: `traced`,
    /// `blocked`, `uninterruptible`, `ignored`, `handled`; `null` when no
    /// SIGKILL followed or nothing explains it.
    pub why_killed: Option<&'static str>,
    /// The tracer that held it, when `why_killed` is `traced`.
    pub tracer_pid: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct HolderRecord {
    /// `survived`, `refused`, `new_process`, `inherited`, `already_running`,
    /// `hidden`.
    pub kind: &'static str,
    pub pid: Option<u32>,
    pub name: Option<String>,
    pub unit: Option<String>,
    pub parent_pid: Option<u32>,
    pub parent_cmdline: Option<String>,
    /// The `kill` that stops the parent as it runs from here (`kill -KILL
    /// PID` for a PID namespace's init without a SIGTERM handler); `null`
    /// without a parent.
    pub parent_stop_command: Option<String>,
    /// Processes in the parent's PID namespace when the parent is that
    /// namespace's init; `null` otherwise.
    pub parent_namespace_processes: Option<usize>,
    /// The parent is a process porthole signalled or refused that still
    /// runs and handed the socket on after the signal.
    pub parent_is_target: bool,
    /// The parent is another user's process whose sockets porthole (not
    /// root) cannot see, still running after it handed the socket to this
    /// one: a prefork master; `parent_stop_command` stops it, as root.
    pub parent_unseen: bool,
    /// The parent is PID 1, which restarted the stopped process; porthole
    /// never signals it (`parent_stop_command` is `null`).
    pub parent_is_init: bool,
    pub socket: SocketRecord,
}

impl KillRecord {
    pub fn from_report(report: &KillReport<'_>) -> Self {
        let plan = report.plan;
        let processes: &BTreeMap<u32, Process> = &plan.processes;
        let socket = |s: &Socket| {
            let mut record =
                SocketRecord::from_socket(s, processes).with_owner_gaps(s, &plan.owner_gaps);
            // With `--netns all|NAME|PATH`: which namespace, as `ls` says.
            record.net_namespace_hint = s.net_namespace.and_then(|inode| {
                plan.namespaces.iter().find(|n| n.inode == inode).map(|n| n.hint(processes))
            });
            record
        };
        let targets = plan
            .targets
            .iter()
            .map(|target| {
                let process = target.process.as_ref();
                let outcome =
                    report.outcomes.and_then(|all| all.iter().find(|o| o.pid == target.pid));
                TargetRecord {
                    pid: target.pid,
                    name: process.map(|p| p.name.clone()),
                    user: process.and_then(|p| p.user.clone()),
                    uid: process.map(|p| p.uid),
                    cmdline: process.map(|p| p.cmdline.join(" ")),
                    argv: process.map(|p| p.cmdline.clone()),
                    exe: process.and_then(|p| p.exe.clone()),
                    exe_deleted: process.map(|p| p.exe_deleted),
                    exe_other_mount_namespace: process.map(|p| p.exe_other_mount_namespace),
                    exe_here: process.and_then(Process::exe_path_here),
                    running_seconds: process
                        .and_then(|p| p.start_time)
                        .and_then(|start| report.now.checked_sub(start)),
                    unit: process.and_then(|p| p.unit.clone()),
                    container: target
                        .container_hint
                        .as_ref()
                        .and_then(|h| h.container.clone())
                        .or_else(|| process.and_then(|p| p.container.clone())),
                    ports: target.ports.clone(),
                    action: if target.will_stop() { "stop" } else { "refused" },
                    refusal: target.refusal.as_ref().map(|r| r.code()),
                    refusal_reason: target.refusal.as_ref().map(|r| r.describe()),
                    hints: target_hints(target, plan.caller_uid),
                    namespace_processes: target.namespace_init.as_ref().map(|i| i.processes),
                    frozen: target.frozen.is_some(),
                    stopped_with: target.stopped_with,
                    bytes: process
                        .map(|p| {
                            super::json::ProcessBytes::of(&p.name, p.exe.as_deref(), &p.cmdline)
                        })
                        .unwrap_or_default(),
                    thaw_command: target.frozen.as_ref().map(|f| f.thaw_command()),
                    signals: outcome
                        .map(|o| o.signals.iter().map(|s| s.name()).collect())
                        .unwrap_or_default(),
                    outcome: outcome.map(|o| o.fate.code()),
                    exited_after_ms: outcome.and_then(|o| match o.fate {
                        Fate::Exited { after } | Fate::Killed { after } => {
                            Some(after.as_millis() as u64)
                        }
                        _ => None,
                    }),
                    why_killed: outcome.and_then(|o| o.unanswered).map(|u| u.code()),
                    tracer_pid: outcome.and_then(|o| match o.unanswered {
                        Some(Unanswered::Traced { tracer }) => Some(tracer),
                        _ => None,
                    }),
                }
            })
            .collect();
        let holders_after = report
            .verification
            .map(|v| {
                v.holders
                    .iter()
                    .map(|h| HolderRecord {
                        kind: h.kind.code(),
                        pid: h.pid,
                        name: h.process.as_ref().map(|p| p.name.clone()),
                        unit: h.process.as_ref().and_then(|p| p.unit.clone()),
                        parent_pid: h.parent.as_ref().map(|p| p.pid),
                        parent_cmdline: h.parent.as_ref().map(Process::command_line),
                        parent_stop_command: h.parent_stop_command.clone(),
                        parent_unseen: h.parent_unseen,
                        parent_is_init: h.parent_is_init,
                        parent_namespace_processes: h.parent_init.as_ref().map(|i| i.processes),
                        parent_is_target: h.parent_is_target,
                        socket: SocketRecord::from_socket(
                            &h.socket,
                            &h.process
                                .iter()
                                .map(|p| (p.pid, p.clone()))
                                .collect::<BTreeMap<_, _>>(),
                        ),
                    })
                    .collect()
            })
            .unwrap_or_default();
        KillRecord {
            schema_version: crate::render::json::SCHEMA_VERSION,
            ports: plan.ports.clone(),
            dry_run: report.dry_run,
            listening: !plan.is_empty(),
            listeners: plan.listeners.iter().map(socket).collect(),
            targets,
            hidden_owners: plan.hidden.len(),
            hidden_owner_reasons: plan.owner_gaps.iter().map(|g| g.code()).collect(),
            // A port the text calls "not free" (a socket left alone still
            // holds it) is not free here either.
            freed: report.verification.map(|v| {
                v.all_free()
                    && v.free
                        .iter()
                        .all(|&port| !report.others.iter().any(|o| o.socket.local_port() == port))
            }),
            free_ports: report.verification.map(|v| {
                v.free
                    .iter()
                    .copied()
                    .filter(|&port| !report.others.iter().any(|o| o.socket.local_port() == port))
                    .collect()
            }),
            holders_after,
            watched_ms: report.verification.map(|v| v.watched.as_millis() as u64),
            parents_still_running: report
                .verification
                .map(|v| {
                    v.lingering_parents
                        .iter()
                        .map(|p| ParentRecord {
                            pid: p.process.pid,
                            name: p.process.name.clone(),
                            cmdline: p.process.command_line(),
                            stop_command: supervisor_stop_command(
                                p.process.pid,
                                p.namespace_init.as_ref(),
                            ),
                            namespace_processes: p.namespace_init.as_ref().map(|i| i.processes),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            init_still_running: report
                .verification
                .and_then(|v| v.init_parent.as_ref())
                .map(Process::command_line),
            other_sockets: report
                .others
                .iter()
                .map(|o| OtherSocketRecord {
                    kind: o.kind.code(),
                    socket: SocketRecord::from_socket(
                        &o.socket,
                        &o.processes.iter().map(|p| (p.pid, p.clone())).collect(),
                    ),
                })
                .collect(),
            elsewhere: report
                .elsewhere
                .iter()
                .map(|other| {
                    let port = other.socket.local_port();
                    let command = kill_command(other, port, report.flags, &report.plan.program);
                    ElsewhereRecord::new(other, command)
                })
                .collect(),
        }
    }
}

/// Writes the whole run: text sections, or one JSON object.
pub fn write_report(
    out: &mut dyn Write,
    report: &KillReport<'_>,
    format: Format,
    style: Style,
) -> std::io::Result<()> {
    match format {
        Format::Json | Format::Jsonl => {
            crate::render::sanitize::write_json_pretty(
                &mut *out,
                &KillRecord::from_report(report),
            )?;
            writeln!(out)
        }
        Format::Table => {
            if report.plan.is_empty() {
                write_nothing(out, report)
            } else {
                write_results(out, report, style)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists_read_back_as_ranges() {
        assert_eq!(port_list(&[3000, 3001, 3002, 3003, 3005]), "3000-3003, 3005");
        assert_eq!(port_list(&[8001, 8000]), "8000, 8001");
        assert_eq!(port_list(&[9, 7, 8, 8]), "7-9");
        assert_eq!(port_list(&[65534, 65535]), "65534, 65535");
        assert_eq!(port_list(&[]), "");
    }

    #[test]
    fn a_forwarders_hint_is_a_command_that_runs_or_words() {
        // `docker stop <container> (find it with: …)` read as a command,
        // and a shell takes `<container>` for a redirection.
        let forwarder = |name: &str, container: Option<&str>| Target {
            pid: 700,
            process: Some(Process { pid: 700, name: name.into(), ..Process::default() }),
            start_ticks: None,
            ports: vec![8080],
            refusal: None,
            container_hint: Some(crate::model::termination::ContainerHint {
                forwarder: true,
                container: container.map(String::from),
            }),
            namespace_init: None,
            frozen: None,
            stopped_with: None,
        };
        let hint = |target: Target| target_hints(&target, 0).join("\n");
        let docker = hint(forwarder("docker-proxy", None));
        assert!(
            docker.ends_with(": docker stop $(docker ps --quiet --filter publish=8080)"),
            "{docker}"
        );
        assert!(hint(forwarder("docker-proxy", Some("3f2a1b"))).ends_with(": docker stop 3f2a1b"));
        let podman = hint(forwarder("rootlessport", None));
        assert!(podman.contains("`podman port --all` names the container"), "{podman}");
        for text in [docker, podman] {
            assert!(!text.contains('<'), "{text}");
        }
    }

    #[test]
    fn running_time_reads_naturally() {
        let process = Process { start_time: Some(1000), ..Process::default() };
        assert_eq!(running_for(&process, 1012).as_deref(), Some("12s"));
        assert_eq!(running_for(&process, 1000 + 125).as_deref(), Some("2m05s"));
        assert_eq!(running_for(&process, 1000 + 3 * 3600 + 12 * 60).as_deref(), Some("3h12m"));
        assert_eq!(running_for(&process, 1000 + 2 * 86_400 + 3600).as_deref(), Some("2d1h"));
        assert_eq!(running_for(&process, 10), None);
    }
}
