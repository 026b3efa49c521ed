//! `porthole check TARGET [--bind ADDR:PORT]`: why a connection fails (or a
//! bind would), as a verdict, evidence and the fix.

use std::io::Write;

use anyhow::Context;

use crate::cli::args::CheckArgs;
use crate::cli::settings::CheckSettings;
use crate::commands::ExitStatus;
use crate::diagnose;
use crate::inventory::system::Machine;
use crate::render::diagnosis::write_diagnosis;
use crate::render::Style;

pub fn run(args: CheckArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = CheckSettings::resolve(args)?;
    let diagnosis = match &settings.namespace {
        Some(namespace) => diagnose::diagnose_in(&Machine, &settings.request, namespace),
        None => diagnose::diagnose(&Machine, &settings.request),
    }
    .context("check")?;
    write_diagnosis(out, &diagnosis, settings.format, Style::detect())?;
    Ok(if diagnosis.ok { ExitStatus::Success } else { ExitStatus::Failure })
}
