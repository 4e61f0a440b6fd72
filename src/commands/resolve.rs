//! `carry resolve PROJECT/PATCH [--abort]`: a worktree to resolve one conflict by hand.

use carry_graph::PatchRef;
use carry_orchestrator::resolve::ResolveError;

use crate::cli::GlobalArgs;
use crate::cli::ResolveArgs;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &ResolveArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let patch: PatchRef = args.patch.parse().map_err(|e| {
        CliError::usage(format!(
            "{}: {e}; name a patch as PROJECT/PATCH",
            args.patch
        ))
    })?;
    if args.continue_ {
        let recorded = carry_orchestrator::resolve::record(&workspace, &patch).map_err(failure)?;
        anstream::eprintln!(
            "recorded the resolution of {} ({} conflict region{}); running {} and what depends on it with it",
            recorded.session.patch,
            recorded.regions,
            if recorded.regions == 1 { "" } else { "s" },
            patch.project
        );
        let options = carry_orchestrator::run::RunOptions {
            projects: vec![patch.project.clone()],
            jobs: 1,
            ..carry_orchestrator::run::RunOptions::default()
        };
        let report = super::run::execute(global, &workspace, &options)?;
        super::run::print_report(&report, false, false)?;
        return Ok(super::run::outcome(&report));
    }
    if args.abort {
        let session = carry_orchestrator::resolve::abort(&workspace, &patch).map_err(failure)?;
        anstream::println!(
            "dropped the resolve of {} ({} removed); nothing else changed",
            session.patch,
            session.worktree.display()
        );
        return Ok(Outcome::Clean);
    }
    let session = carry_orchestrator::resolve::start(&workspace, &patch).map_err(failure)?;
    let mut text = format!(
        "resolve {} in {}\n  starts from {} (the candidate just before it), the patch merged with diff3 markers\n",
        session.patch,
        session.worktree.display(),
        &session.before[..session.before.len().min(12)]
    );
    if session.conflicted.is_empty() {
        text.push_str("  git merges it without a conflict here; check the result\n");
    } else {
        text.push_str("  conflicted:\n");
        for path in &session.conflicted {
            text.push_str(&format!("    {path}\n"));
        }
    }
    text.push_str(&format!(
        "  the culprit and the upstream commits that touched these paths: {}\nnext: edit the files (or `git -C {} mergetool`), then `carry resolve --continue {}` records the resolution and runs again with it; `carry resolve --abort {}` drops it all\n",
        session.notes.display(),
        session.worktree.display(),
        session.patch,
        session.patch
    ));
    anstream::print!("{text}");
    Ok(Outcome::Clean)
}

fn failure(error: ResolveError) -> CliError {
    match error {
        ResolveError::UnknownPatch(_)
        | ResolveError::NotInConflict { .. }
        | ResolveError::NotInProgress(_) => CliError::usage(error.to_string()),
        ResolveError::MarkersRemain(_) | ResolveError::Extract(_) => {
            CliError::failure(error.to_string())
        }
        other => CliError::new(ErrorKind::Failure, other),
    }
}
