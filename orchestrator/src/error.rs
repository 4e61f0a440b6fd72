//! Why carry could not do a run's job (expected outcomes such as conflicts are data in the
//! report, never errors).

use std::path::PathBuf;

use carry_graph::Diagnostic;
use carry_graph::GraphError;

/// Why a run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The workspace does not validate.
    #[error("the workspace has {} problem{}", .0.iter().filter(|d| d.is_error()).count(), if .0.iter().filter(|d| d.is_error()).count() == 1 { "" } else { "s" })]
    Invalid(Vec<Diagnostic>),
    /// The graph has cycles.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The run was asked to stop; what it finished is recorded and the next run resumes.
    #[error("the run was stopped; the next run resumes it")]
    Cancelled,
    /// A project named on the command line does not exist.
    #[error("no project '{0}'")]
    UnknownProject(String),
    /// Another run holds the workspace.
    #[error(transparent)]
    Locked(#[from] carry_adapters::lock::LockError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] carry_adapters::store::StoreError),
    /// carry's state directory could not be written.
    #[error("cannot write {}", path.display())]
    State {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
