//! `carry conflicts`: the open conflicts of the last run.

use crate::cli::ConflictsArgs;
use crate::cli::GlobalArgs;
use crate::error::CliError;
use crate::error::ErrorKind;
use crate::error::Outcome;

pub(crate) fn run(global: &GlobalArgs, args: &ConflictsArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let list = carry_orchestrator::conflicts::open_conflicts(&workspace)
        .map_err(|e| CliError::new(ErrorKind::Failure, e))?;
    if args.json {
        super::print_json(&list)?;
    } else {
        anstream::print!("{}", render(&list));
    }
    Ok(if list.conflicts.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Attention
    })
}

fn render(list: &carry_orchestrator::conflicts::ConflictList) -> String {
    let Some(run) = &list.run else {
        return "no run yet: `carry run` finds the conflicts\n".to_owned();
    };
    if list.conflicts.is_empty() {
        return format!("no open conflict in run {run}\n");
    }
    let mut text = format!(
        "{} open conflict{} in run {run}\n",
        list.conflicts.len(),
        if list.conflicts.len() == 1 { "" } else { "s" }
    );
    for conflict in &list.conflicts {
        text.push_str(&format!("\n{}\n", conflict.key));
        text.push_str(&format!(
            "  patch    {}/{}: {}",
            conflict.project, conflict.patch, conflict.subject
        ));
        if let Some(author) = &conflict.patch_author {
            text.push_str(&format!(" ({author})"));
        }
        text.push('\n');
        match &conflict.culprit {
            Some(culprit) => text.push_str(&format!(
                "  culprit  {} {} ({})\n",
                &culprit.commit[..culprit.commit.len().min(12)],
                culprit.summary,
                culprit.author
            )),
            None => text.push_str(
                "  culprit  not found (the conflict comes from elsewhere, such as a rename)\n",
            ),
        }
        text.push_str(&format!("  paths    {}\n", conflict.paths.join(", ")));
        text.push_str(&format!(
            "  upstream {} commit{} touched them\n",
            conflict.upstream_commits,
            if conflict.upstream_commits == 1 {
                ""
            } else {
                "s"
            }
        ));
        text.push_str(&format!("  open     since run {}\n", conflict.since_run));
    }
    text
}
