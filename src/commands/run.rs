//! `carry run`: the nightly job: fetch, order, rebase, test, record, report.

use carry_orchestrator::report::RunReport;
use carry_orchestrator::report::RunStatus;
use carry_orchestrator::run::RunError;
use carry_orchestrator::run::RunOptions;
use carry_orchestrator::workspace::LoadedWorkspace;

use crate::cli::GlobalArgs;
use crate::cli::RunArgs;
use crate::error::CliError;
use crate::error::Outcome;
use crate::progress;
use crate::report_markdown;
use crate::report_text;

pub(crate) fn run(global: &GlobalArgs, args: &RunArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let projects = super::project_names(&workspace, &args.projects)?;
    let options = RunOptions {
        projects,
        all: args.all,
        offline: args.offline,
        skip_first_bad: false,
        no_test: args.no_test,
        jobs: usize::from(args.jobs),
        fresh: args.fresh,
        ..RunOptions::default()
    };
    if args.dry_run {
        let plan = carry_orchestrator::plan::plan(&workspace, &options).map_err(run_error)?;
        if args.json {
            super::print_json(&plan)?;
        } else {
            anstream::print!("{}", carry_orchestrator::plan::render(&plan));
        }
        return Ok(Outcome::Clean);
    }
    let report = execute(global, &workspace, &options)?;
    if let Some(file) = &args.junit {
        write_junit(&report, file)?;
    }
    print_report(&report, args.json, args.markdown)?;
    Ok(outcome(&report))
}

/// Writes `report` as JUnit XML to `file`, whole or not at all.
pub(crate) fn write_junit(report: &RunReport, file: &std::path::Path) -> Result<(), CliError> {
    let xml = crate::report_junit::junit(report)
        .map_err(|e| CliError::failure(format!("cannot write JUnit XML: {e}")))?;
    carry_adapters::publish::write_atomically(file, xml.as_bytes())
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", file.display())))
}

pub(crate) fn execute(
    global: &GlobalArgs,
    workspace: &LoadedWorkspace,
    options: &RunOptions,
) -> Result<RunReport, CliError> {
    let options = RunOptions {
        cancel: crate::signals::cancel_on_signals(global.quiet),
        ..options.clone()
    };
    let progress = progress::for_terminal(global.quiet);
    let result = carry_orchestrator::run::run(workspace, &options, progress.as_progress());
    progress.finish();
    result.map_err(run_error)
}

pub(crate) fn print_report(report: &RunReport, json: bool, markdown: bool) -> Result<(), CliError> {
    if json {
        super::print_json(report)?;
    } else if markdown {
        anstream::print!("{}", report_markdown::render(report));
    } else {
        anstream::print!("{}", report_text::render(report));
    }
    Ok(())
}

pub(crate) fn outcome(report: &RunReport) -> Outcome {
    match report.status {
        RunStatus::Clean => Outcome::Clean,
        RunStatus::Attention => Outcome::Attention,
    }
}

pub(crate) fn run_error(error: RunError) -> CliError {
    match error {
        RunError::Invalid(diagnostics) => {
            let message = RunError::Invalid(diagnostics.clone()).to_string();
            CliError::failure(message).with_diagnostics(diagnostics)
        }
        RunError::UnknownProject(name) => CliError::usage(format!("no project '{name}'")),
        RunError::Cancelled => CliError::new(crate::error::ErrorKind::Interrupted, RunError::Cancelled)
            .with_hint("`carry run` resumes it, reusing every step it finished"),
        RunError::Locked(
            lock @ (carry_orchestrator::lock::LockError::Held { .. }
            | carry_orchestrator::lock::LockError::HeldUnknown { .. }),
        ) => CliError::failure(lock.to_string())
            .with_hint("wait for that run to finish; a run that died frees the lock by itself"),
        // Not another run: the lock file cannot be made or opened (a read-only `.carry/`, a
        // directory where the file should be); say why, with its cause.
        RunError::Locked(lock) => CliError::new(crate::error::ErrorKind::Failure, lock).with_hint(
            "carry keeps its state in .carry/ beside carry.toml: it must be a writable directory and .carry/lock a file",
        ),
        other => CliError::new(crate::error::ErrorKind::Failure, other),
    }
}
