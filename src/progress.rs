//! Progress on stderr: a spinner with what is going on when stderr is a terminal, plain lines
//! otherwise (CI logs), nothing with `-q`.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Instant;

use carry_orchestrator::report::TestStatus;
use carry_orchestrator::run::Progress;
use carry_orchestrator::run::RunEvent;
use indicatif::ProgressBar;
use indicatif::ProgressStyle;

/// A progress sink the command owns, finished when the run ends.
pub(crate) trait Reporter: Progress {
    fn finish(&self);
    fn as_progress(&self) -> &dyn Progress;
}

pub(crate) fn for_terminal(quiet: bool) -> Box<dyn Reporter> {
    if quiet {
        Box::new(Quiet)
    } else if std::io::stderr().is_terminal() {
        Box::new(Spinner::new())
    } else {
        Box::new(Lines)
    }
}

struct Quiet;

impl Progress for Quiet {
    fn event(&self, _event: RunEvent) {}
}

impl Reporter for Quiet {
    fn finish(&self) {}
    fn as_progress(&self) -> &dyn Progress {
        self
    }
}

/// One line per event, for logs.
pub(crate) struct Lines;

fn status_name(status: TestStatus) -> &'static str {
    match status {
        TestStatus::Passed => "passed",
        TestStatus::Failed => "failed",
        TestStatus::Timeout => "timed out",
        TestStatus::Blocked => "blocked",
        TestStatus::Skipped => "skipped",
    }
}

fn line(event: &RunEvent) -> Option<String> {
    Some(match event {
        RunEvent::Fetching { project } => format!("fetching {project}"),
        RunEvent::Rebasing { project, patches } => {
            format!("rebasing {project} ({patches} patches)")
        }
        RunEvent::Planned { .. } | RunEvent::Patch { .. } | RunEvent::TestStarted { .. } => {
            return None;
        }
        RunEvent::Reused { project, what } => {
            format!("{project}: {what} reused from an earlier run with the same inputs")
        }
        RunEvent::TestFinished {
            project,
            status,
            duration_ms,
        } => match duration_ms {
            Some(ms) => format!(
                "test {project}: {} in {:.1}s",
                status_name(*status),
                *ms as f64 / 1000.0
            ),
            None => format!("test {project}: {}", status_name(*status)),
        },
        RunEvent::Resuming { run, finished } if finished.is_empty() => {
            format!("run {run} was interrupted; resuming its work")
        }
        RunEvent::Resuming { run, finished } => format!(
            "run {run} was interrupted after {} step{}; resuming its work, reusing them ({})",
            finished.len(),
            if finished.len() == 1 { "" } else { "s" },
            finished.join(", ")
        ),
        RunEvent::LeftoversEnded { processes } => format!(
            "ended {} test process{} a dead carry left running: {}",
            processes.len(),
            if processes.len() == 1 { "" } else { "es" },
            processes.join("; ")
        ),
        RunEvent::ProjectDone { project, summary } => format!("{project}: {summary}"),
    })
}

impl Progress for Lines {
    fn event(&self, event: RunEvent) {
        if let RunEvent::TestStarted { project } = &event {
            anstream::eprintln!("testing {project}");
        } else if let Some(text) = line(&event) {
            anstream::eprintln!("{text}");
        }
    }
}

impl Reporter for Lines {
    fn finish(&self) {}
    fn as_progress(&self) -> &dyn Progress {
        self
    }
}

/// A spinner naming the patch being rebased or the tests running, with their elapsed time.
struct Spinner {
    bar: ProgressBar,
    tests: Mutex<BTreeMap<String, Instant>>,
}

impl Spinner {
    fn new() -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self {
            bar,
            tests: Mutex::new(BTreeMap::new()),
        }
    }

    fn show_tests(&self) {
        let Ok(tests) = self.tests.lock() else {
            return;
        };
        let running: Vec<String> = tests
            .iter()
            .map(|(project, started)| format!("{project} {}s", started.elapsed().as_secs()))
            .collect();
        if !running.is_empty() {
            self.bar
                .set_message(format!("testing {}", running.join(", ")));
        }
    }
}

impl Progress for Spinner {
    fn event(&self, event: RunEvent) {
        match &event {
            RunEvent::Patch {
                project,
                index,
                total,
                name,
            } => self
                .bar
                .set_message(format!("rebasing {project} {}/{total}: {name}", index + 1)),
            RunEvent::TestStarted { project } => {
                if let Ok(mut tests) = self.tests.lock() {
                    tests.insert(project.to_string(), Instant::now());
                }
                self.show_tests();
            }
            RunEvent::TestFinished { project, .. } => {
                if let Ok(mut tests) = self.tests.lock() {
                    tests.remove(project.as_str());
                }
                if let Some(text) = line(&event) {
                    self.bar.println(text);
                }
                self.show_tests();
            }
            other => {
                if let Some(text) = line(other) {
                    self.bar.println(text);
                }
            }
        }
    }
}

impl Reporter for Spinner {
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn as_progress(&self) -> &dyn Progress {
        self
    }
}
