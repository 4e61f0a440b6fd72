//! carry's workspace model, pure: no I/O, no git, no async.
//!
//! - [`names`]: validated names (`ProjectName`, `PatchName`, `FeatureName`, `PatchRef`) and
//!   the `git format-patch` slug rule patches are named by.
//! - [`diagnostic`]: problems in user input as data, with file, line, column and source line.
//! - [`manifest`]: `carry.toml` text to a validated [`Workspace`], every problem at once.
//! - [`workspace`]: the validated model: projects, upstreams, series, tests, features.
//! - [`graph`]: the [`WorkspaceGraph`] and its queries: safe stages, impact, needs.
//! - [`redact`]: the userinfo of URLs kept out of everything carry shows.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cycles;
pub mod diagnostic;
pub mod graph;
pub mod manifest;
pub mod names;
pub mod redact;
pub mod workspace;

pub use diagnostic::Diagnostic;
pub use diagnostic::Location;
pub use diagnostic::Severity;
pub use graph::Cycle;
pub use graph::Direction;
pub use graph::FeatureId;
pub use graph::GraphError;
pub use graph::Impact;
pub use graph::PatchId;
pub use graph::ProjectId;
pub use graph::WorkspaceGraph;
pub use manifest::Manifest;
pub use manifest::ManifestError;
pub use names::FeatureName;
pub use names::NameError;
pub use names::PatchName;
pub use names::PatchRef;
pub use names::ProjectName;
pub use workspace::Workspace;
