//! `carry promote [RUN] [PROJECT]...`: move series to a run's results.

use carry_orchestrator::promote::PromoteError;
use carry_orchestrator::promote::PromoteOptions;

use crate::cli::GlobalArgs;
use crate::cli::PromoteArgs;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &PromoteArgs) -> Result<Outcome, CliError> {
    if args.abandon {
        return abandon(global);
    }
    let workspace = super::load(global)?;
    // The first word is a run id when it is not a project's name.
    let projects = &workspace.manifest.workspace.projects;
    let (run, names) = match args.args.split_first() {
        Some((first, rest)) if !projects.keys().any(|p| p.as_str() == first) => {
            (Some(first.clone()), rest.to_vec())
        }
        _ => (None, args.args.clone()),
    };
    let options = PromoteOptions {
        run,
        projects: super::project_names(&workspace, &names)?,
        feature: match &args.feature {
            Some(name) => Some(
                name.parse()
                    .map_err(|e| CliError::usage(format!("bad feature name: {e}")))?,
            ),
            None => None,
        },
        force: args.force,
    };
    let report =
        carry_orchestrator::promote::promote(&workspace, &options).map_err(
            |error| match error {
                PromoteError::Run(run) => super::run::run_error(run),
                refused @ PromoteError::Refused { .. } => {
                    CliError::new(ErrorKind::Failure, refused).with_hint("nothing was changed")
                }
                other => CliError::new(ErrorKind::Failure, other),
            },
        )?;
    if args.json {
        super::print_json(&report)?;
    } else {
        for promoted in &report.promoted {
            let what = if promoted.already {
                "already promoted"
            } else {
                "promoted"
            };
            let dropped = if promoted.dropped.is_empty() {
                String::new()
            } else {
                format!(", dropped landed {}", promoted.dropped.join(", "))
            };
            let dropped = if promoted.removed.is_empty() {
                dropped
            } else {
                format!(
                    "{dropped}, removed {} (dropped by hand)",
                    promoted.removed.join(", ")
                )
            };
            anstream::println!(
                "{} ({}): {what}{dropped}; old series kept in {}",
                promoted.project,
                promoted.form,
                promoted.backup
            );
            for (old, new) in &promoted.renamed {
                anstream::println!("  {old} is now {new}");
            }
        }
        for (project, why) in &report.skipped {
            anstream::println!("{project}: skipped, {why}");
        }
    }
    Ok(if report.skipped.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Attention
    })
}

/// `carry promote --abandon`: the unfinished promotion's steps that were not made are given
/// up; what they were is printed, for a human to make or undo by hand.
fn abandon(global: &GlobalArgs) -> Result<Outcome, CliError> {
    let root = carry_orchestrator::workspace::find_root(&super::start_dir(global))?;
    match carry_orchestrator::promotion_plan::abandon_unfinished(&root)
        .map_err(|e| CliError::new(ErrorKind::Failure, e))?
    {
        None => anstream::println!("no promotion is unfinished"),
        Some((id, plan)) => {
            anstream::println!(
                "gave up promotion {id} of run {}; its steps were:",
                plan.run
            );
            for step in &plan.steps {
                anstream::println!("  {}", step.describe());
            }
        }
    }
    Ok(Outcome::Clean)
}
