//! `carry fetch`: bring each upstream into its project's repository.

use crate::cli::FetchArgs;
use crate::cli::GlobalArgs;
use crate::error::CliError;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &FetchArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let projects = super::project_names(&workspace, &args.projects)?;
    let progress = crate::progress::for_terminal(global.quiet);
    let results = carry_orchestrator::run::fetch_all(
        &workspace,
        &projects,
        progress.as_progress(),
        &carry_orchestrator::options::Cancel::new(),
    );
    progress.finish();
    let mut failures = 0;
    for (project, result) in &results {
        match result {
            Ok(()) => anstream::println!("fetched {project}"),
            Err(error) => {
                failures += 1;
                anstream::eprintln!("error: {project}: {error}");
            }
        }
    }
    if failures > 0 {
        return Err(CliError::failure(format!(
            "{failures} of {} fetches failed",
            results.len()
        )));
    }
    Ok(Outcome::Clean)
}
