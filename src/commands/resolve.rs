//! `carry resolve`: a worktree to resolve one conflict by hand, then record it (`--continue`),
//! give up on it (`--abort`), move on to the next (`--skip`) or drop the patch (`--drop`).

use carry_graph::PatchRef;
use carry_orchestrator::resolve::ResolveError;
use carry_orchestrator::workspace::LoadedWorkspace;

use crate::cli::GlobalArgs;
use crate::cli::ResolveArgs;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &ResolveArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let patch = patch_named(&workspace, args)?;
    if args.continue_ {
        let recorded = carry_orchestrator::resolve::record(&workspace, &patch).map_err(failure)?;
        anstream::eprintln!(
            "recorded resolution {} of {} ({} conflict region{}); running {} and what depends on it with it",
            recorded.resolution,
            recorded.session.patch,
            recorded.regions,
            if recorded.regions == 1 { "" } else { "s" },
            patch.project
        );
        return run_again(global, &workspace, &patch);
    }
    if args.drop {
        let reason = args.reason.as_deref().unwrap_or_default();
        let dropped =
            carry_orchestrator::resolve::drop_patch(&workspace, &patch, reason).map_err(failure)?;
        anstream::eprintln!(
            "dropped {patch} from its series' candidate ({}); running {} and what depends on it without it; `carry promote` removes it from the series",
            dropped.reason,
            patch.project
        );
        return run_again(global, &workspace, &patch);
    }
    if args.abort || args.skip {
        match carry_orchestrator::resolve::abort(&workspace, &patch) {
            Ok(session) => anstream::println!(
                "dropped the resolve of {} ({} removed); nothing else changed",
                session.patch,
                session.worktree.display()
            ),
            // Skipping a conflict nobody started resolving is fine.
            Err(ResolveError::NotInProgress(_)) if args.skip => {}
            Err(error) => return Err(failure(error)),
        }
        if args.abort {
            return Ok(Outcome::Clean);
        }
        anstream::println!("{patch} stays in conflict");
        let next =
            carry_orchestrator::resolve::next_conflict(&workspace, &patch).map_err(failure)?;
        let Some(next) = next else {
            anstream::println!("no other open conflict to resolve");
            return Ok(Outcome::Attention);
        };
        return start(&workspace, &next);
    }
    start(&workspace, &patch)
}

/// The patch the command is about: the one named, else the only resolve going on.
fn patch_named(workspace: &LoadedWorkspace, args: &ResolveArgs) -> Result<PatchRef, CliError> {
    if let Some(argument) = &args.patch {
        return carry_orchestrator::resolve::patch_of_argument(workspace, argument).map_err(
            |error| match error {
                ResolveError::UnknownPatch(_) if !argument.contains('/') => CliError::usage(
                    format!("{argument}: name a patch as PROJECT/PATCH (or its conflict key)"),
                ),
                other => failure(other),
            },
        );
    }
    if !(args.continue_ || args.abort || args.skip) {
        return Err(CliError::usage(
            "name the patch to resolve as PROJECT/PATCH; `carry conflicts` lists the open conflicts",
        ));
    }
    let sessions = carry_orchestrator::resolve::sessions(workspace).map_err(failure)?;
    match sessions.as_slice() {
        [only] => only.patch.parse().map_err(|e| {
            CliError::failure(format!("the resolve going on names {}: {e}", only.patch))
        }),
        [] => Err(CliError::usage(
            "no resolve is going on; `carry resolve PROJECT/PATCH` starts one",
        )),
        many => Err(CliError::usage(format!(
            "{} resolves are going on ({}); name the one meant",
            many.len(),
            many.iter()
                .map(|s| s.patch.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A new run of `patch`'s project and what depends on it, its report printed.
fn run_again(
    global: &GlobalArgs,
    workspace: &LoadedWorkspace,
    patch: &PatchRef,
) -> Result<Outcome, CliError> {
    let options = carry_orchestrator::run::RunOptions {
        projects: vec![patch.project.clone()],
        jobs: 1,
        ..carry_orchestrator::run::RunOptions::default()
    };
    let report = super::run::execute(global, workspace, &options)?;
    super::run::print_report(&report, false, false)?;
    Ok(super::run::outcome(&report))
}

fn start(workspace: &LoadedWorkspace, patch: &PatchRef) -> Result<Outcome, CliError> {
    let session = carry_orchestrator::resolve::start(workspace, patch).map_err(failure)?;
    let mut text = format!(
        "resolve {} in {}\n  starts from {} (the candidate just before it), the patch merged with diff3 markers\n",
        session.patch,
        session.worktree.display(),
        &session.before[..session.before.len().min(12)]
    );
    if session.prefilled > 0 {
        text.push_str(&format!(
            "  {} conflict region{} resolved already with the resolution recorded for {} (its lines did not change); check {}\n",
            session.prefilled,
            if session.prefilled == 1 { " was" } else { "s were" },
            if session.prefilled == 1 { "it" } else { "them" },
            if session.prefilled == 1 { "it" } else { "them" },
        ));
    }
    if session.conflicted.is_empty() {
        text.push_str("  git merges it without a conflict here; check the result\n");
    } else {
        text.push_str("  conflicted:\n");
        for path in &session.conflicted {
            text.push_str(&format!("    {path}\n"));
        }
    }
    text.push_str(&format!(
        "  the culprit and the upstream commits that touched these paths: {}\nnext: edit the files (or `git -C {} mergetool`), then `carry resolve --continue {}` records the resolution and runs again with it; `carry resolve --abort {}` drops it all; `--skip` moves on to the next conflict; `--drop --reason TEXT` drops the patch\n",
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
        | ResolveError::NotInProgress(_)
        | ResolveError::StaleKey { .. }
        | ResolveError::NotDroppable { .. }
        | ResolveError::NoReason(_) => CliError::usage(error.to_string()),
        ResolveError::MarkersRemain(_)
        | ResolveError::Extract(_)
        | ResolveError::InProgress { .. } => CliError::failure(error.to_string()),
        other => CliError::new(ErrorKind::Failure, other),
    }
}
