//! `carry resolutions export|import`.

use std::io::Read as _;
use std::path::Path;

use carry_orchestrator::resolutions::TransferError;

use crate::cli::GlobalArgs;
use crate::cli::ResolutionsCommand;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, command: &ResolutionsCommand) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    match command {
        ResolutionsCommand::Export { file } => {
            let exported = carry_orchestrator::resolutions::export(&workspace).map_err(failure)?;
            let mut text = serde_json::to_string_pretty(&exported)
                .map_err(|e| CliError::failure(format!("cannot write JSON: {e}")))?;
            text.push('\n');
            if file == Path::new("-") {
                anstream::print!("{text}");
            } else {
                carry_adapters::publish::write_atomically(file, text.as_bytes()).map_err(|e| {
                    CliError::failure(format!("cannot write {}: {e}", file.display()))
                })?;
                anstream::eprintln!(
                    "wrote {} resolution{}, {} review{} and {} dropped patch{} to {}",
                    exported.resolutions.len(),
                    plural(exported.resolutions.len()),
                    exported.reviews.len(),
                    plural(exported.reviews.len()),
                    exported.drops.len(),
                    if exported.drops.len() == 1 { "" } else { "es" },
                    file.display()
                );
            }
            Ok(Outcome::Clean)
        }
        ResolutionsCommand::Import { file, refs, json } => {
            let (parsed, place) = if *refs {
                (
                    carry_orchestrator::resolutions::published(&workspace).map_err(failure)?,
                    "refs/carry/resolutions/".to_owned(),
                )
            } else {
                let file = file.as_deref().unwrap_or(Path::new("-"));
                let text = if file == Path::new("-") {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text).map_err(|e| {
                        CliError::failure(format!("cannot read standard input: {e}"))
                    })?;
                    text
                } else {
                    std::fs::read_to_string(file).map_err(|e| {
                        CliError::usage(format!("cannot read {}: {e}", file.display()))
                    })?
                };
                let place = file.display().to_string();
                (
                    carry_orchestrator::resolutions::parse(&place, &text).map_err(failure)?,
                    place,
                )
            };
            let summary = carry_orchestrator::resolutions::import(&workspace, &parsed, &place)
                .map_err(failure)?;
            if *json {
                super::print_json(&summary)?;
            } else {
                anstream::println!(
                    "imported {} resolution{} ({} already here), {} review{}, {} dropped patch{}",
                    summary.imported.len(),
                    plural(summary.imported.len()),
                    summary.already,
                    summary.reviews,
                    plural(summary.reviews),
                    summary.drops,
                    if summary.drops == 1 { "" } else { "es" }
                );
                for kept in &summary.kept_local {
                    anstream::println!("  kept this workspace's own: {kept}");
                }
                for unknown in &summary.unknown_project {
                    anstream::println!("  not a project here: {unknown}");
                }
            }
            Ok(if summary.kept_local.is_empty() {
                Outcome::Clean
            } else {
                Outcome::Attention
            })
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn failure(error: TransferError) -> CliError {
    match error {
        TransferError::Invalid { .. } => CliError::usage(error.to_string()),
        other => CliError::new(ErrorKind::Failure, other),
    }
}
