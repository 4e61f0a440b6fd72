//! The one place errors become messages and exit codes (SPEC: 1 could not do the job,
//! 2 usage error).

use std::fmt::Write as _;
use std::process::ExitCode;

use carry_graph::Diagnostic;
use carry_graph::GraphError;
use carry_orchestrator::workspace::LoadError;

use crate::cli::GlobalArgs;
use crate::render;

/// What a command's success means for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 0: done, nothing needs attention.
    Clean,
    /// 3: done, and something needs a human (a run's conflict, a doctor's problem).
    Attention,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Clean => ExitCode::SUCCESS,
            Outcome::Attention => ExitCode::from(3),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// 1: carry could not do its job.
    Failure,
    /// 2: the command line asks for something that cannot be.
    Usage,
    /// 130: stopped by ctrl-c or SIGTERM; the next run resumes.
    Interrupted,
}

/// An error on its way to the user.
#[derive(Debug)]
pub(crate) struct CliError {
    kind: ErrorKind,
    error: Box<dyn std::error::Error + Send + Sync>,
    diagnostics: Vec<Diagnostic>,
    hints: Vec<String>,
}

impl CliError {
    pub(crate) fn new(
        kind: ErrorKind,
        error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            error: error.into(),
            diagnostics: Vec::new(),
            hints: Vec::new(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message.into())
    }

    pub(crate) fn failure(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failure, message.into())
    }

    #[must_use]
    pub(crate) fn with_diagnostics(mut self, diagnostics: Vec<Diagnostic>) -> Self {
        self.diagnostics = diagnostics;
        self
    }

    pub(crate) fn diagnostics(&self) -> Option<&[Diagnostic]> {
        (!self.diagnostics.is_empty()).then_some(self.diagnostics.as_slice())
    }

    #[must_use]
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub(crate) fn report(&self, global: &GlobalArgs) -> ExitCode {
        let shown: Vec<Diagnostic> = self
            .diagnostics
            .iter()
            .filter(|d| !global.quiet || d.is_error())
            .cloned()
            .collect();
        anstream::eprint!("{}", render::diagnostics(&shown));
        let mut message = format!("error: {}", self.error);
        let mut source = self.error.source();
        while let Some(cause) = source {
            let _ = write!(message, ": {cause}");
            source = cause.source();
        }
        // Whatever the chain quotes (a git command line, a URL), no credential is shown.
        let message = carry_graph::redact::urls_in_text(&message);
        anstream::eprintln!("{}", styled_error(&message));
        if self.store_is_damaged() {
            anstream::eprintln!(
                "hint: the store .carry/carry.db is damaged; `carry doctor` says what to do (in short: move it aside and the next run starts a new one)"
            );
        }
        for hint in &self.hints {
            anstream::eprintln!("hint: {hint}");
        }
        match self.kind {
            ErrorKind::Failure => ExitCode::from(1),
            ErrorKind::Usage => ExitCode::from(2),
            ErrorKind::Interrupted => ExitCode::from(130),
        }
    }
}

impl CliError {
    /// Whether the cause, anywhere in its chain, is a damaged store.
    fn store_is_damaged(&self) -> bool {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self.error.as_ref());
        while let Some(error) = next {
            if carry_adapters::store::is_damaged_store_error(error) {
                return true;
            }
            next = error.source();
        }
        false
    }
}

fn styled_error(message: &str) -> String {
    let style = anstyle_error();
    match message.strip_prefix("error:") {
        Some(rest) => format!("{style}error:{style:#}{rest}"),
        None => message.to_owned(),
    }
}

fn anstyle_error() -> annotate_snippets::renderer::Style {
    annotate_snippets::renderer::Style::new()
        .bold()
        .fg_color(Some(
            annotate_snippets::renderer::AnsiColor::BrightRed.into(),
        ))
}

impl From<LoadError> for CliError {
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::Manifest(manifest) => {
                let diagnostics = manifest.diagnostics.clone();
                Self::new(ErrorKind::Failure, manifest).with_diagnostics(diagnostics)
            }
            LoadError::NotFound { .. } => Self::new(ErrorKind::Failure, error)
                .with_hint("run carry inside a workspace, pass -C DIR, or try `carry demo`"),
            LoadError::Promotion(carry_orchestrator::promotion_plan::PlanError::Stuck {
                ..
            }) => Self::new(ErrorKind::Failure, error).with_hint(
                "make the steps left by hand, or give them up with `carry promote --abandon`",
            ),
            LoadError::Read { .. } | LoadError::Promotion(_) => {
                Self::new(ErrorKind::Failure, error)
            }
        }
    }
}

impl From<GraphError> for CliError {
    fn from(error: GraphError) -> Self {
        Self::new(ErrorKind::Failure, error)
    }
}
