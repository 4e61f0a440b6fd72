//! `carry init [DIR] --repo PATH...`: a first manifest from repositories a team has.

use carry_orchestrator::init::InitError;

use crate::cli::GlobalArgs;
use crate::cli::InitArgs;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &InitArgs) -> Result<Outcome, CliError> {
    let base = super::start_dir(global);
    let dir = args
        .dir
        .as_ref()
        .map_or_else(|| base.clone(), |d| base.join(d));
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::failure(format!("cannot make {}: {e}", dir.display())))?;
    let guesses =
        carry_orchestrator::init::init(&dir, &args.repos).map_err(|error| match error {
            InitError::Exists(_) | InitError::Repo { .. } => CliError::usage(error.to_string()),
            other => CliError::new(ErrorKind::Failure, other),
        })?;
    anstream::println!(
        "wrote {} with {} project{}:",
        dir.join("carry.toml").display(),
        guesses.len(),
        if guesses.len() == 1 { "" } else { "s" }
    );
    for guess in &guesses {
        anstream::println!(
            "  {}: {} carries {} commit{} on branch {}, base {}; upstream {} {} ref {} ({})",
            guess.name,
            guess.repo,
            guess.carried,
            if guess.carried == 1 { "" } else { "s" },
            guess.branch,
            &guess.base[..guess.base.len().min(12)],
            guess.upstream.0,
            guess.upstream.1,
            guess.reference,
            guess.upstream_from
        );
    }
    anstream::println!(
        "next: add each project's test and what it consumes, then `carry -C {} run --dry-run`",
        dir.display()
    );
    Ok(Outcome::Clean)
}
