//! `carry review`: what each patch became, and `--ack` for a re-applied resolution.

use std::fmt::Write as _;

use carry_graph::PatchRef;
use carry_orchestrator::report::ReviewState;
use carry_orchestrator::review::Change;
use carry_orchestrator::review::ReviewError;
use carry_orchestrator::review::ReviewReport;
use carry_orchestrator::review::ReviewScope;

use crate::cli::GlobalArgs;
use crate::cli::ReviewArgs;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &ReviewArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    if let Some(ack) = &args.ack {
        let patch: PatchRef = ack
            .parse()
            .map_err(|e| CliError::usage(format!("{ack}: {e}; name the patch as PROJECT/PATCH")))?;
        let review = carry_orchestrator::review::acknowledge(
            &workspace,
            &patch,
            &carry_orchestrator::reviews::who(),
        )
        .map_err(failure)?;
        anstream::println!(
            "acknowledged resolution {} of {patch} on upstream {} (by {})",
            review.resolution,
            &review.onto[..review.onto.len().min(12)],
            review.acked_by
        );
        return Ok(Outcome::Clean);
    }
    let scope = match &args.scope {
        None => ReviewScope::default(),
        Some(scope) => match scope.split_once('/') {
            Some((project, patch)) => ReviewScope {
                project: Some(parse_project(project)?),
                patch: Some(patch.to_owned()),
            },
            None => ReviewScope {
                project: Some(parse_project(scope)?),
                patch: None,
            },
        },
    };
    let review = carry_orchestrator::review::review(&workspace, &scope).map_err(failure)?;
    if args.json {
        super::print_json(&review)?;
    } else if args.markdown {
        anstream::print!("{}", markdown(&review));
    } else {
        anstream::print!("{}", text(&review));
    }
    Ok(
        if review
            .patches
            .iter()
            .any(|p| p.review == Some(ReviewState::Required))
        {
            Outcome::Attention
        } else {
            Outcome::Clean
        },
    )
}

fn parse_project(name: &str) -> Result<carry_graph::ProjectName, CliError> {
    name.parse()
        .map_err(|e| CliError::usage(format!("{name}: {e}")))
}

fn failure(error: ReviewError) -> CliError {
    match error {
        ReviewError::Unknown(..) | ReviewError::NoResolution { .. } => {
            CliError::usage(error.to_string())
        }
        other => CliError::new(ErrorKind::Failure, other),
    }
}

fn change_name(change: Option<Change>, outcome: &str) -> &str {
    match change {
        Some(Change::Unchanged) => "unchanged",
        Some(Change::Moved) => "moved",
        Some(Change::Modified) => "modified",
        None => outcome,
    }
}

fn resolution_line(
    patch: &carry_orchestrator::review::PatchReview,
    ack_hint: bool,
) -> Option<String> {
    let resolution = patch.resolution.as_ref()?;
    let state = match patch.review {
        Some(ReviewState::Required) if ack_hint => format!(
            "review required (`carry review --ack {}` once you have looked)",
            patch.id
        ),
        Some(ReviewState::Required) => "review required".to_owned(),
        _ => "acknowledged".to_owned(),
    };
    Some(format!(
        "resolved with recorded resolution {resolution}: {state}"
    ))
}

fn text(review: &ReviewReport) -> String {
    let mut out = format!("review of run {}\n", review.run);
    for patch in &review.patches {
        let _ = writeln!(
            out,
            "\n{:<10} {}: {}",
            change_name(patch.change, patch.outcome),
            patch.id,
            patch.subject
        );
        if let Some(line) = resolution_line(patch, true) {
            let _ = writeln!(out, "  {line}");
        }
        if let Some(interdiff) = &patch.interdiff {
            for line in interdiff.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out
}

fn markdown(review: &ReviewReport) -> String {
    let mut out = format!(
        "## carry review of run `{}`\n\n| patch | became | resolution |\n|---|---|---|\n",
        review.run
    );
    for patch in &review.patches {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            patch.id,
            change_name(patch.change, patch.outcome),
            resolution_line(patch, false).unwrap_or_default()
        );
    }
    for patch in review.patches.iter().filter(|p| p.interdiff.is_some()) {
        let _ = writeln!(
            out,
            "\n<details><summary><code>{}</code> {}</summary>\n\n```diff\n{}```\n</details>",
            patch.id,
            change_name(patch.change, patch.outcome),
            patch.interdiff.as_deref().unwrap_or_default()
        );
    }
    out
}
