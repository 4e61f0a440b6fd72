//! `carry report [RUN]`: a stored run's report.

use carry_orchestrator::history::History;

use crate::cli::GlobalArgs;
use crate::cli::ReportArgs;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &ReportArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let failure = |e| CliError::new(ErrorKind::Failure, e);
    let history = History::open(&workspace).map_err(failure)?;
    let id = match &args.run {
        Some(id) => id.clone(),
        None => history.last_reported().map_err(failure)?.ok_or_else(|| {
            CliError::failure("no finished run yet").with_hint("start one with `carry run`")
        })?,
    };
    let report = history.report(&id).map_err(failure)?.ok_or_else(|| {
        let known: Vec<String> = history
            .runs(5)
            .unwrap_or_default()
            .into_iter()
            .map(|r| format!("{} ({})", r.id, r.status.as_str()))
            .collect();
        CliError::usage(format!("no report for run '{id}'"))
            .with_hint(format!("recent runs: {}", known.join(", ")))
    })?;
    super::run::print_report(&report, args.json, args.markdown)?;
    Ok(super::run::outcome(&report))
}
