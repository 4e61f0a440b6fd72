//! `carry validate`: every problem in the manifest and the series, at once.

use carry_graph::Diagnostic;
use carry_orchestrator::validate::validate;
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::cli::ValidateArgs;
use crate::error::CliError;
use crate::error::Outcome;
use crate::render;

#[derive(Serialize)]
struct ValidateReport<'a> {
    schema: &'static str,
    ok: bool,
    diagnostics: &'a [Diagnostic],
}

pub(crate) fn run(global: &GlobalArgs, args: &ValidateArgs) -> Result<Outcome, CliError> {
    let workspace = match super::load(global) {
        Ok(workspace) => workspace,
        Err(error) if args.json => {
            if let Some(diagnostics) = error.diagnostics() {
                super::print_json(&ValidateReport {
                    schema: "carry.validate/v1",
                    ok: false,
                    diagnostics,
                })?;
            }
            return Err(error);
        }
        Err(error) => return Err(error),
    };
    let validation = validate(&workspace);
    if args.json {
        super::print_json(&ValidateReport {
            schema: "carry.validate/v1",
            ok: !validation.has_errors(),
            diagnostics: &validation.diagnostics,
        })?;
    }
    if validation.has_errors() {
        let errors = validation
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
        let noun = if errors == 1 { "problem" } else { "problems" };
        return Err(
            CliError::failure(format!("the workspace has {errors} {noun}"))
                .with_diagnostics(validation.diagnostics),
        );
    }
    if !global.quiet {
        anstream::eprint!("{}", render::diagnostics(&validation.diagnostics));
    }
    if !args.json {
        let ws = &workspace.manifest.workspace;
        let patches: usize = validation.series.values().map(|s| s.patches.len()).sum();
        anstream::println!(
            "ok: workspace '{}': {} projects, {} features, {} patches in {} series read",
            ws.name,
            ws.projects.len(),
            ws.features.len(),
            patches,
            validation.series.len()
        );
    }
    Ok(Outcome::Clean)
}
