//! The validated workspace: what a `carry.toml` means once every name and reference checked out.
//!
//! These are plain values of validated newtypes; the manifest module builds them from text, and
//! tests and benchmarks may build them directly. Spans point back into the manifest so later
//! checks (series, promotion) can report at the right line; they are `0..0` for workspaces not
//! read from a file.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use crate::names::FeatureName;
use crate::names::PatchRef;
use crate::names::ProjectName;

/// A byte range in the manifest.
pub type Span = Range<usize>;

/// The default test timeout when neither the project nor the workspace sets one.
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How much of a test's output its log keeps when the manifest does not say: 10 MiB.
pub const DEFAULT_TEST_LOG_LIMIT: u64 = 10 << 20;

/// A workspace: its projects and features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// `workspace.name`.
    pub name: String,
    /// `workspace.max-patch-age`: a patch older than this without a deadline is overdue.
    pub max_patch_age: Option<Duration>,
    /// `workspace.test-timeout`: the timeout of a test given as a bare command.
    pub test_timeout: Duration,
    /// `workspace.timezone`: the zone schedules are read in (UTC when absent).
    pub timezone: Option<String>,
    /// `workspace.test-log-limit`: how many bytes of a test's output its log keeps (its
    /// start and its end, the middle cut).
    pub test_log_limit: u64,
    /// Where tests run.
    pub executor: ExecutorSpec,
    /// Who hears of runs that need attention.
    pub notify: NotifySpec,
    /// Every project, by name.
    pub projects: BTreeMap<ProjectName, Project>,
    /// Every feature, by name.
    pub features: BTreeMap<FeatureName, Feature>,
}

/// One upstream code base and the series carried on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The `[project.NAME]` key.
    pub name: ProjectName,
    /// Position in the manifest, so messages can follow the order the user wrote.
    pub position: usize,
    /// The git repository carry works in, relative to the manifest.
    pub repo: String,
    /// Where upstream comes from, and which ref carry follows.
    pub upstream: Upstream,
    /// The carried series.
    pub series: Series,
    /// Projects this one is built or tested against.
    pub consumes: Vec<ProjectName>,
    /// How to test a candidate, if at all.
    pub test: Option<TestSpec>,
    /// Where the parts of this project were written.
    pub spans: ProjectSpans,
}

/// Where a project's parts are in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectSpans {
    /// The project's name in its table header.
    pub name: Span,
    /// `repo`.
    pub repo: Span,
    /// `upstream.url` or `upstream.path`.
    pub upstream: Span,
    /// `upstream.ref`.
    pub upstream_ref: Span,
    /// `series.branch` or `series.dir`.
    pub series: Span,
    /// `series.base`.
    pub base: Span,
    /// Each `consumes` entry, in order.
    pub consumes: Vec<Span>,
}

/// Where an upstream lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamSource {
    /// A git URL (https, ssh, git, file or scp-like `user@host:path`).
    Url(String),
    /// A local repository path, relative to the manifest, read in place.
    Path(String),
}

/// A project's upstream and the ref carry follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Where it is.
    pub source: UpstreamSource,
    /// The branch or tag followed (`master`, `main`, `stable/2024.1`).
    pub reference: String,
}

/// Which form a series takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesSource {
    /// A branch of commits in the project's repository.
    Branch(String),
    /// A directory of patch files with a `series` file, relative to the manifest.
    Dir(String),
}

/// A carried series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// Branch or patch directory.
    pub source: SeriesSource,
    /// The commit the series sits on; absent means the merge base with upstream.
    pub base: Option<String>,
}

/// How a project's candidate is tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSpec {
    /// Run through `sh -c` in a checkout of the candidate.
    pub command: String,
    /// The whole process group is killed after this long.
    pub timeout: Duration,
    /// `sbatch` arguments of this test's job (time, memory, constraints), after the
    /// executor's own; used by the Slurm executor only.
    pub sbatch_args: Vec<String>,
}

/// Who hears of a run that needs attention: `[notify]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifySpec {
    /// URLs that get the JSON payload (`carry.notify/v1`).
    pub webhooks: Vec<String>,
    /// Slack- or Matrix-compatible incoming webhooks: `{"text": ...}`.
    pub chat: Vec<String>,
}

/// Where tests run: `[executor]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ExecutorSpec {
    /// Processes on this machine (the default).
    #[default]
    Local,
    /// Jobs on a Slurm cluster.
    Slurm {
        /// The partition jobs go to (the cluster's default when absent).
        partition: Option<String>,
        /// A directory every node sees, for checkouts and logs.
        shared_dir: std::path::PathBuf,
        /// `sbatch` arguments of every job.
        sbatch_args: Vec<String>,
    },
}

/// Patches across projects that ship together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// The `[feature.NAME]` key.
    pub name: FeatureName,
    /// What the feature is for.
    pub description: Option<String>,
    /// When its patches must be gone (landed upstream or dropped).
    pub deadline: Option<jiff::civil::Date>,
    /// A link to the tracking issue.
    pub tracking: Option<String>,
    /// Each patch of the feature, with the patches it needs.
    pub needs: BTreeMap<PatchRef, Vec<PatchRef>>,
    /// Where each patch key was written.
    pub key_spans: BTreeMap<PatchRef, Span>,
    /// Where each needed patch was written, parallel to `needs`.
    pub need_spans: BTreeMap<PatchRef, Vec<Span>>,
}

impl Feature {
    /// Every patch of the feature: the keys and everything they need.
    pub fn patches(&self) -> std::collections::BTreeSet<&PatchRef> {
        self.needs
            .iter()
            .flat_map(|(patch, needs)| std::iter::once(patch).chain(needs))
            .collect()
    }
}

impl Workspace {
    /// An empty workspace called `name`, for building one in code.
    pub fn empty(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            max_patch_age: None,
            test_timeout: DEFAULT_TEST_TIMEOUT,
            timezone: None,
            test_log_limit: DEFAULT_TEST_LOG_LIMIT,
            executor: ExecutorSpec::Local,
            notify: NotifySpec::default(),
            projects: BTreeMap::new(),
            features: BTreeMap::new(),
        }
    }

    /// Adds a project with a branch series named `carried` on a local upstream, consuming
    /// `consumes`; for building workspaces in code (tests, benchmarks, the demo).
    pub fn add_project(&mut self, name: ProjectName, consumes: Vec<ProjectName>) -> &mut Project {
        let position = self.projects.len();
        self.projects
            .entry(name.clone())
            .or_insert_with(|| Project {
                repo: format!("repos/{name}"),
                upstream: Upstream {
                    source: UpstreamSource::Path(format!("upstream/{name}")),
                    reference: "main".to_owned(),
                },
                series: Series {
                    source: SeriesSource::Branch("carried".to_owned()),
                    base: None,
                },
                name,
                position,
                consumes,
                test: None,
                spans: ProjectSpans::default(),
            })
    }

    /// Adds a feature whose patches need each other as `needs` says.
    pub fn add_feature(&mut self, name: FeatureName, needs: BTreeMap<PatchRef, Vec<PatchRef>>) {
        self.features.insert(
            name.clone(),
            Feature {
                name,
                description: None,
                deadline: None,
                tracking: None,
                needs,
                key_spans: BTreeMap::new(),
                need_spans: BTreeMap::new(),
            },
        );
    }
}
