//! `carry report [RUN]`: a stored run's report.

use carry_adapters::store::Store;
use carry_orchestrator::report::RunReport;

use crate::cli::GlobalArgs;
use crate::cli::ReportArgs;
use crate::error::CliError;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &ReportArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let store = Store::open(&workspace.state_dir())
        .map_err(|e| CliError::new(crate::error::ErrorKind::Failure, e))?;
    let id = match &args.run {
        Some(id) => id.clone(),
        None => store
            .last_reported_run()
            .map_err(|e| CliError::new(crate::error::ErrorKind::Failure, e))?
            .ok_or_else(|| {
                CliError::failure("no finished run yet").with_hint("start one with `carry run`")
            })?,
    };
    let text = store
        .report(&id)
        .map_err(|e| CliError::new(crate::error::ErrorKind::Failure, e))?
        .ok_or_else(|| {
            let known: Vec<String> = store
                .runs(5)
                .unwrap_or_default()
                .into_iter()
                .map(|r| format!("{} ({})", r.id, r.status))
                .collect();
            CliError::usage(format!("no report for run '{id}'"))
                .with_hint(format!("recent runs: {}", known.join(", ")))
        })?;
    let report: RunReport = serde_json::from_str(&text).map_err(|e| {
        CliError::failure(format!(
            "run '{id}' has no readable report ({e}); it may have failed or been interrupted"
        ))
    })?;
    super::run::print_report(&report, args.json, args.markdown)?;
    Ok(super::run::outcome(&report))
}
