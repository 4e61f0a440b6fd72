//! Progress on stderr: one plain line per event, nothing with `-q`.

use carry_orchestrator::run::Progress;
use carry_orchestrator::run::RunEvent;

pub(crate) struct LineProgress {
    quiet: bool,
}

impl LineProgress {
    pub(crate) fn new(quiet: bool) -> Self {
        Self { quiet }
    }
}

impl Progress for LineProgress {
    fn event(&self, event: RunEvent) {
        if self.quiet {
            return;
        }
        match event {
            RunEvent::Fetching { project } => anstream::eprintln!("fetching {project}"),
            RunEvent::Rebasing { project, patches } => {
                anstream::eprintln!("rebasing {project} ({patches} patches)");
            }
            RunEvent::ProjectDone { project, summary } => {
                anstream::eprintln!("{project}: {summary}");
            }
        }
    }
}
