//! `carry debt`: the patch-debt ledger.

use std::fmt::Write as _;

use carry_orchestrator::debt::DeadlineSource;
use carry_orchestrator::debt::Debt;
use carry_orchestrator::debt::DebtReport;

use crate::cli::DebtArgs;
use crate::cli::GlobalArgs;
use crate::error::CliError;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &DebtArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let report = carry_orchestrator::debt::debt(&workspace, carry_orchestrator::debt::today())
        .map_err(super::run::run_error)?;
    if args.json {
        super::print_json(&report)?;
    } else if args.markdown {
        anstream::print!("{}", markdown(&report));
    } else {
        anstream::print!("{}", text(&report));
    }
    Ok(if args.strict && report.any_overdue() {
        Outcome::Attention
    } else {
        Outcome::Clean
    })
}

/// An age in days, or `?` when unknown.
fn days(age: Option<i64>) -> String {
    age.map_or_else(|| "?".to_owned(), |d| format!("{d}d"))
}

fn state(debt: &Debt) -> String {
    let upstream = &debt.upstream;
    if upstream.untracked {
        return "UNTRACKED".to_owned();
    }
    let mut parts = Vec::new();
    if let Some(status) = &upstream.status {
        parts.push(status.clone());
    }
    if let Some(forwarded) = &upstream.forwarded {
        parts.push(format!("forwarded {forwarded}"));
    }
    if let Some(applied) = &upstream.applied_upstream {
        parts.push(format!("applied upstream {applied}"));
    }
    if let Some(change) = &upstream.change_id {
        parts.push(format!("Change-Id {}", &change[..change.len().min(10)]));
    }
    parts.join("; ")
}

fn deadline(debt: &Debt) -> String {
    match (&debt.deadline, &debt.deadline_source) {
        (Some(date), Some(DeadlineSource::Patch)) => format!("{date} (own)"),
        (Some(date), Some(DeadlineSource::Feature(name))) => format!("{date} (feature {name})"),
        (Some(date), Some(DeadlineSource::MaxPatchAge)) => format!("{date} (max-patch-age)"),
        _ => "none".to_owned(),
    }
}

fn text(report: &DebtReport) -> String {
    let mut out = String::new();
    let overdue = report.patches.iter().filter(|p| p.overdue).count();
    let untracked = report
        .patches
        .iter()
        .filter(|p| p.upstream.untracked)
        .count();
    let _ = writeln!(
        out,
        "{} patches carried as of {}: {overdue} overdue, {untracked} untracked",
        report.patches.len(),
        report.today
    );
    for patch in &report.patches {
        let flag = if patch.overdue { "OVERDUE" } else { "       " };
        let age = days(patch.age_days);
        let _ = writeln!(
            out,
            "  {flag} {:<48} age {age:>5}  due {}  upstream: {}",
            patch.id,
            deadline(patch),
            state(patch)
        );
    }
    out.push_str("\nby project:\n");
    for (name, summary) in &report.projects {
        let _ = writeln!(
            out,
            "  {name}: {} patches, oldest {}, {} overdue, {} untracked",
            summary.count,
            days(summary.oldest_days),
            summary.overdue,
            summary.untracked
        );
    }
    if !report.features.is_empty() {
        out.push_str("by feature:\n");
        for (name, summary) in &report.features {
            let _ = writeln!(
                out,
                "  {name}: {} patches, {} overdue",
                summary.count, summary.overdue
            );
        }
    }
    if !report.trend.is_empty() {
        let points: Vec<String> = report
            .trend
            .iter()
            .map(|t| format!("{} {}", &t.at[..10.min(t.at.len())], t.carried))
            .collect();
        let _ = writeln!(out, "carried over time: {}", points.join(", "));
    }
    if !report.paid.is_empty() {
        let _ = writeln!(out, "paid off (landed upstream, dropped by promotion):");
        for landed in &report.paid {
            let _ = writeln!(out, "  {}", paid(landed));
        }
    }
    out
}

fn paid(landed: &carry_orchestrator::debt::LandedRecord) -> String {
    let upstream = landed
        .upstream_commit
        .as_deref()
        .map_or(String::new(), |c| format!(" as {}", &c[..12.min(c.len())]));
    format!(
        "{} {}: upstream took it{upstream} ({}), dropped {}",
        landed.patch,
        landed.subject,
        landed.matched_by,
        &landed.dropped_at[..10.min(landed.dropped_at.len())]
    )
}

fn markdown(report: &DebtReport) -> String {
    let mut out = format!(
        "## Patch debt as of {}\n\n| | patch | age | deadline | upstream |\n| --- | --- | --- | --- | --- |\n",
        report.today
    );
    for patch in &report.patches {
        let flag = if patch.overdue {
            "🔴 overdue"
        } else if patch.upstream.untracked {
            "🟠 untracked"
        } else {
            ""
        };
        let age = days(patch.age_days);
        let _ = writeln!(
            out,
            "| {flag} | `{}` {} | {age} | {} | {} |",
            patch.id,
            patch.subject,
            deadline(patch),
            state(patch)
        );
    }
    out.push_str(
        "\n| project | patches | oldest | overdue | untracked |\n| --- | --- | --- | --- | --- |\n",
    );
    for (name, summary) in &report.projects {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            summary.count,
            days(summary.oldest_days),
            summary.overdue,
            summary.untracked
        );
    }
    if !report.paid.is_empty() {
        out.push_str("\n**Paid off** (landed upstream, dropped by promotion):\n\n");
        for landed in &report.paid {
            let _ = writeln!(out, "- {}", paid(landed));
        }
    }
    out
}
