//! `carry impact P`: what breaks if P's upstream moves (graph level).

use std::fmt::Display;

use crate::cli::GlobalArgs;
use crate::cli::ImpactArgs;
use crate::error::CliError;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &ImpactArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let graph = carry_orchestrator::queries::workspace_graph(&workspace)?;
    if args.to.iter().any(|to| to.contains('=')) {
        if args.project.is_some() || !args.to.iter().all(|to| to.contains('=')) {
            return Err(CliError::usage(
                "give every move as --to PROJECT=REF, with no PROJECT before them",
            ));
        }
        let mut moves = Vec::new();
        for to in &args.to {
            let (name, reference) = to.split_once('=').unwrap_or_default();
            let id = super::project_arg(&graph, name)?;
            moves.push((graph.project_name_of(id).clone(), reference.to_owned()));
        }
        return many(&workspace, &moves, args.json);
    }
    let Some(name) = &args.project else {
        return Err(CliError::usage(
            "name the project that moves (or give --to PROJECT=REF)",
        ));
    };
    let project = super::project_arg(&graph, name)?;
    match args.to.as_slice() {
        [] => {}
        [to] => return trial(&workspace, graph.project_name_of(project), to, args.json),
        _ => {
            return Err(CliError::usage(
                "one --to REF per project; several moves: --to PROJECT=REF --to PROJECT=REF",
            ));
        }
    }
    if args.furthest {
        return furthest(
            &workspace,
            graph.project_name_of(project),
            args.tags.as_deref(),
            args.json,
        );
    }
    let impact = graph.impact(project);
    if args.json {
        super::print_json(&impact)?;
        return Ok(Outcome::Clean);
    }
    anstream::println!("if {} moves:", impact.project);
    line("consumers", &impact.consumers);
    line("features", &impact.features);
    line("patches at risk", &impact.patches_at_risk);
    line("re-test, in order", &impact.retest);
    Ok(Outcome::Clean)
}

fn line<T: Display>(label: &str, items: &[T]) {
    if items.is_empty() {
        anstream::println!("  {label}: none");
    } else {
        let text: Vec<String> = items.iter().map(ToString::to_string).collect();
        anstream::println!("  {label} ({}): {}", items.len(), text.join(", "));
    }
}

fn trial(
    workspace: &carry_orchestrator::workspace::LoadedWorkspace,
    project: &carry_graph::ProjectName,
    to: &str,
    json: bool,
) -> Result<Outcome, CliError> {
    use carry_orchestrator::trial::TrialError;
    let trial =
        carry_orchestrator::trial::trial(workspace, project, to).map_err(|error| match error {
            TrialError::Run(run) => super::run::run_error(run),
            unknown @ TrialError::UnknownRef { .. } => CliError::usage(unknown.to_string()),
            other => CliError::new(crate::error::ErrorKind::Failure, other),
        })?;
    let clean = carry_orchestrator::trial::is_clean(&trial);
    if json {
        super::print_json(&trial)?;
    } else {
        let counts: Vec<String> = carry_orchestrator::trial::counts(&trial)
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        anstream::println!(
            "if {} moves to {} ({}): {}",
            trial.project,
            trial.to,
            &trial.to_commit[..12.min(trial.to_commit.len())],
            if counts.is_empty() {
                "no patches".to_owned()
            } else {
                counts.join(", ")
            }
        );
        print_patches(&trial.patches);
        print_blocked(&trial.blocked_elsewhere);
        line("features at risk", &trial.features_at_risk);
        line("consumers", &trial.consumers);
        let retest: Vec<String> = trial
            .retest
            .iter()
            .map(|r| match r.last_duration_ms {
                Some(ms) => format!("{} ({:.1}s last time)", r.project, ms as f64 / 1000.0),
                None => r.project.to_string(),
            })
            .collect();
        line("re-test, in order", &retest);
    }
    Ok(if clean {
        Outcome::Clean
    } else {
        Outcome::Attention
    })
}

fn furthest(
    workspace: &carry_orchestrator::workspace::LoadedWorkspace,
    project: &carry_graph::ProjectName,
    tags: Option<&str>,
    json: bool,
) -> Result<Outcome, CliError> {
    use carry_orchestrator::furthest::FurthestError;
    use carry_orchestrator::trial::TrialError;
    let answer =
        carry_orchestrator::furthest::furthest(workspace, project, tags).map_err(|error| {
            match error {
                FurthestError::Trial(TrialError::Run(run)) => super::run::run_error(run),
                FurthestError::NotMoved(_) | FurthestError::NoTags { .. } => {
                    CliError::usage(error.to_string())
                }
                other @ FurthestError::Trial(_) => {
                    CliError::new(crate::error::ErrorKind::Failure, other)
                }
            }
        })?;
    if json {
        super::print_json(&answer)?;
    } else {
        let short = |c: &str| c[..c.len().min(12)].to_owned();
        let describe = |p: &carry_orchestrator::furthest::Point| {
            format!(
                "{}{} (point {} of {})",
                short(&p.commit),
                p.tag
                    .as_deref()
                    .map(|t| format!(", at or after {t}"))
                    .unwrap_or_default(),
                p.index + 1,
                answer.points
            )
        };
        anstream::println!(
            "{project} along {} from {} to {} ({} points, {} trial rebase{}):",
            answer.line,
            short(&answer.base),
            short(&answer.tip),
            answer.points,
            answer.trials,
            if answer.trials == 1 { "" } else { "s" }
        );
        match (&answer.furthest, &answer.next) {
            (Some(good), None) => {
                anstream::println!(
                    "  furthest: {} (upstream's tip: nothing breaks)",
                    describe(good)
                );
            }
            (good, Some(bad)) => {
                anstream::println!(
                    "  furthest: {}",
                    good.as_ref().map_or_else(
                        || "its current base (the first point already breaks)".to_owned(),
                        &describe
                    )
                );
                anstream::println!("  next:     {}, where these break:", describe(bad));
                for broken in &answer.breaks {
                    let detail = if broken.outcome == "conflict" {
                        format!(
                            " in {}{}",
                            broken.paths.join(", "),
                            broken
                                .culprit
                                .as_deref()
                                .map(|c| format!(" (culprit {})", short(c)))
                                .unwrap_or_default()
                        )
                    } else if broken.blocked_by.is_empty() {
                        String::new()
                    } else {
                        format!(" by {}", broken.blocked_by.join(", "))
                    };
                    anstream::println!("    {:<9} {}{detail}", broken.outcome, broken.patch);
                }
            }
            (None, None) => {}
        }
        if answer.non_monotonic {
            anstream::println!(
                "  note: a point was found good after one that broke (a conflict that went away); the answer is the last good point before the first break found"
            );
        }
    }
    Ok(if answer.next.is_some() {
        Outcome::Attention
    } else {
        Outcome::Clean
    })
}

fn many(
    workspace: &carry_orchestrator::workspace::LoadedWorkspace,
    moves: &[(carry_graph::ProjectName, String)],
    json: bool,
) -> Result<Outcome, CliError> {
    use carry_orchestrator::trial::ManyError;
    use carry_orchestrator::trial::TrialError;
    let trials =
        carry_orchestrator::trial::trial_many(workspace, moves).map_err(|error| match error {
            ManyError::Trial(TrialError::Run(run)) => super::run::run_error(run),
            ManyError::Twice(_) | ManyError::Trial(TrialError::UnknownRef { .. }) => {
                CliError::usage(error.to_string())
            }
            other @ ManyError::Trial(_) => CliError::new(crate::error::ErrorKind::Failure, other),
        })?;
    let clean =
        trials.moves.iter().all(carry_orchestrator::trial::is_clean) && trials.blocked.is_empty();
    if json {
        super::print_json(&trials)?;
    } else {
        for trial in &trials.moves {
            let counts: Vec<String> = carry_orchestrator::trial::counts(trial)
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            anstream::println!(
                "if {} moves to {} ({}): {}",
                trial.project,
                trial.to,
                &trial.to_commit[..12.min(trial.to_commit.len())],
                counts.join(", ")
            );
            print_patches(trial.patches.iter().filter(|p| p.outcome.failed()));
        }
        print_blocked(&trials.blocked);
        if !trials.features_at_risk.is_empty() {
            anstream::println!("  features at risk: {}", trials.features_at_risk.join(", "));
        }
        let retest: Vec<String> = trials.retest.iter().map(ToString::to_string).collect();
        anstream::println!("  re-test, in order: {}", retest.join(", "));
    }
    Ok(if clean {
        Outcome::Clean
    } else {
        Outcome::Attention
    })
}

/// Each patch with its outcome and what it means (paths and culprit, what it needs, where
/// upstream has it).
fn print_patches<'p>(
    patches: impl IntoIterator<Item = &'p carry_orchestrator::report::PatchReport>,
) {
    for patch in patches {
        let detail = match &patch.outcome {
            carry_orchestrator::report::Outcome::Conflict {
                paths, first_bad, ..
            } => format!(
                ": {}{}",
                paths.join(", "),
                first_bad.as_deref().map_or(String::new(), |c| format!(
                    " (first bad upstream commit {})",
                    &c[..12.min(c.len())]
                ))
            ),
            carry_orchestrator::report::Outcome::Blocked { blocked_by } => {
                format!(": needs {}", blocked_by.join(", "))
            }
            carry_orchestrator::report::Outcome::Landed {
                upstream_commit, ..
            } => {
                format!(
                    ": upstream {}",
                    upstream_commit
                        .as_deref()
                        .map_or("?", |c| &c[..12.min(c.len())])
                )
            }
            carry_orchestrator::report::Outcome::Error { problem } => {
                format!(": {}:{}: {}", problem.file, problem.line, problem.reason)
            }
            carry_orchestrator::report::Outcome::Dropped { reason } => format!(": {reason}"),
            carry_orchestrator::report::Outcome::Applied { .. } => String::new(),
        };
        anstream::println!(
            "  {:<9} {}{detail}",
            carry_orchestrator::report::outcome_name(&patch.outcome),
            patch.id
        );
    }
}

/// Patches elsewhere the move would block through features.
fn print_blocked(blocked: &[carry_orchestrator::trial::BlockedElsewhere]) {
    for blocked in blocked {
        anstream::println!(
            "  blocked   {}: needs {}",
            blocked.id,
            blocked.blocked_by.join(", ")
        );
    }
}
