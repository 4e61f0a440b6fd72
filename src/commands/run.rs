//! `carry run`: the nightly job (for now: fetch, order, rebase, candidates, report).

use carry_orchestrator::report::RunStatus;
use carry_orchestrator::run::RunError;
use carry_orchestrator::run::RunOptions;

use crate::cli::GlobalArgs;
use crate::cli::RunArgs;
use crate::error::CliError;
use crate::error::Outcome;
use crate::progress::LineProgress;
use crate::report_text;

pub(crate) fn run(global: &GlobalArgs, args: &RunArgs) -> Result<Outcome, CliError> {
    if !args.no_test {
        return Err(
            CliError::usage("running tests is not built yet; pass --no-test")
                .with_hint("`carry run --no-test` rebases and reports without testing"),
        );
    }
    let workspace = super::load(global)?;
    let projects = super::project_names(&workspace, &args.projects)?;
    let options = RunOptions {
        projects,
        all: args.all,
        offline: args.offline,
        skip_first_bad: false,
    };
    let progress = LineProgress::new(global.quiet);
    let report = carry_orchestrator::run::run(&workspace, &options, &progress).map_err(
        |error| match error {
            RunError::Invalid(diagnostics) => {
                let message = RunError::Invalid(diagnostics.clone()).to_string();
                CliError::failure(message).with_diagnostics(diagnostics)
            }
            RunError::UnknownProject(name) => CliError::usage(format!("no project '{name}'")),
            other => CliError::failure(other.to_string()),
        },
    )?;
    if args.json {
        super::print_json(&report)?;
    } else {
        anstream::print!("{}", report_text::render(&report));
    }
    Ok(match report.status {
        RunStatus::Clean => Outcome::Clean,
        RunStatus::Attention => Outcome::Attention,
    })
}
