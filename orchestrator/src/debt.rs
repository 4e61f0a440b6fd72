//! `carry debt`: every carried patch as a debt with a deadline.
//!
//! A patch's upstream state comes from its own words: `Upstream-Status` (OpenEmbedded),
//! `Forwarded` and `Applied-Upstream` (DEP-3), `Change-Id` (Gerrit). Its deadline is its own
//! `Carry-Deadline`, else the earliest deadline of a feature it belongs to, else its author
//! date plus the workspace's `max-patch-age`. A patch that says nothing of upstream is
//! reported as untracked: untracked debt is the worst kind.

use std::collections::BTreeMap;

use carry_adapters::patchfile;
use carry_adapters::series::PatchSource;
pub use carry_adapters::store::LandedRecord;
use carry_adapters::store::Store;
use carry_graph::PatchRef;
use jiff::civil::Date;
use serde::Serialize;

use crate::error::RunError;
use crate::validate::validate;
use crate::workspace::LoadedWorkspace;

/// Where a deadline comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum DeadlineSource {
    /// The patch's own `Carry-Deadline`.
    Patch,
    /// A feature's `deadline`.
    Feature(String),
    /// Author date plus the workspace's `max-patch-age`.
    MaxPatchAge,
}

/// What a patch says of its upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpstreamState {
    /// `Upstream-Status`, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// DEP-3 `Forwarded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<String>,
    /// DEP-3 `Applied-Upstream`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_upstream: Option<String>,
    /// Gerrit `Change-Id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// A link to where it is tracked upstream, when one is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Whether the patch says nothing at all of upstream.
    pub untracked: bool,
}

/// One carried patch as a debt.
#[derive(Debug, Clone, Serialize)]
pub struct Debt {
    /// `PROJECT/NAME`.
    pub id: String,
    /// Its subject.
    pub subject: String,
    /// Its author date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authored: Option<Date>,
    /// Days since its author date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<i64>,
    /// When carry first saw it in a run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// What it says of upstream.
    pub upstream: UpstreamState,
    /// Its features.
    pub features: Vec<String>,
    /// When it must be gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Date>,
    /// Where that deadline comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_source: Option<DeadlineSource>,
    /// Whether the deadline has passed.
    pub overdue: bool,
}

/// A summary of a group of patches.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// How many patches.
    pub count: usize,
    /// The oldest one's age in days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_days: Option<i64>,
    /// How many are overdue.
    pub overdue: usize,
    /// How many say nothing of upstream.
    pub untracked: usize,
}

/// Patches carried in one stored run.
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    /// The run.
    pub run: String,
    /// When it started.
    pub at: String,
    /// Patches carried (not landed) in it.
    pub carried: i64,
}

/// The whole ledger.
#[derive(Debug, Clone, Serialize)]
pub struct DebtReport {
    /// `carry.debt/v1`.
    pub schema: &'static str,
    /// The day the ledger was computed for.
    pub today: Date,
    /// Every patch: overdue first, then by deadline, untracked before tracked, then by id.
    pub patches: Vec<Debt>,
    /// Per project.
    pub projects: BTreeMap<String, Summary>,
    /// Per feature.
    pub features: BTreeMap<String, Summary>,
    /// Patches carried over time, oldest run first.
    pub trend: Vec<TrendPoint>,
    /// Debt paid off: patches upstream took, which promotions dropped, oldest first.
    pub paid: Vec<LandedRecord>,
}

impl DebtReport {
    /// Whether any patch is overdue.
    pub fn any_overdue(&self) -> bool {
        self.patches.iter().any(|p| p.overdue)
    }
}

/// Computes the ledger as of `today`.
pub fn debt(workspace: &LoadedWorkspace, today: Date) -> Result<DebtReport, RunError> {
    let manifest = &workspace.manifest.workspace;
    let validation = validate(workspace);
    if validation.has_errors() {
        return Err(RunError::Invalid(validation.diagnostics));
    }
    let store = Store::open(&workspace.state_dir()).ok();
    let mut features_of: BTreeMap<PatchRef, Vec<(String, Option<Date>)>> = BTreeMap::new();
    for feature in manifest.features.values() {
        for patch in feature.patches() {
            features_of
                .entry(patch.clone())
                .or_default()
                .push((feature.name.to_string(), feature.deadline));
        }
    }
    let mut patches = Vec::new();
    for (project_name, listing) in &validation.series {
        let project = &manifest.projects[project_name];
        let repo = git2::Repository::open(workspace.root.join(&project.repo)).ok();
        for patch in &listing.patches {
            let (subject, message, authored) = patch_words(workspace, repo.as_ref(), &patch.source);
            let subject = patch.subject.clone().unwrap_or(subject);
            let id = PatchRef::new(project_name.clone(), patch.name.clone());
            let upstream = upstream_state(&message);
            let own_deadline =
                field(&message, "Carry-Deadline").and_then(|d| d.parse::<Date>().ok());
            let features = features_of.get(&id).cloned().unwrap_or_default();
            let feature_deadline = features
                .iter()
                .filter_map(|(name, deadline)| deadline.map(|d| (d, name.clone())))
                .min();
            let age_deadline = manifest.max_patch_age.and_then(|age| {
                let days = i64::try_from(age.as_secs() / 86_400).ok()?;
                authored?.checked_add(jiff::Span::new().days(days)).ok()
            });
            let (deadline, deadline_source) = match (own_deadline, feature_deadline, age_deadline) {
                (Some(own), _, _) => (Some(own), Some(DeadlineSource::Patch)),
                (None, Some((date, name)), _) => (Some(date), Some(DeadlineSource::Feature(name))),
                (None, None, Some(date)) => (Some(date), Some(DeadlineSource::MaxPatchAge)),
                _ => (None, None),
            };
            let first_seen = store
                .as_ref()
                .and_then(|s| s.first_seen(&id.to_string()).ok().flatten());
            patches.push(Debt {
                id: id.to_string(),
                subject,
                age_days: authored
                    .and_then(|a| a.until(today).ok())
                    .map(|span| i64::from(span.get_days())),
                authored,
                first_seen,
                upstream,
                features: features.into_iter().map(|(name, _)| name).collect(),
                overdue: deadline.is_some_and(|d| d < today),
                deadline,
                deadline_source,
            });
        }
    }
    patches.sort_by(|a, b| {
        b.overdue
            .cmp(&a.overdue)
            .then_with(|| match (a.deadline, b.deadline) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            // At the same deadline, untracked debt is the worse.
            .then_with(|| b.upstream.untracked.cmp(&a.upstream.untracked))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut projects: BTreeMap<String, Summary> = BTreeMap::new();
    let mut features: BTreeMap<String, Summary> = BTreeMap::new();
    for patch in &patches {
        let project = patch.id.split('/').next().unwrap_or("").to_owned();
        add(projects.entry(project).or_default(), patch);
        for feature in &patch.features {
            add(features.entry(feature.clone()).or_default(), patch);
        }
    }
    let trend = store
        .as_ref()
        .and_then(|s| s.carried_over_time().ok())
        .unwrap_or_default()
        .into_iter()
        .map(|(run, at, carried)| TrendPoint { run, at, carried })
        .collect();
    let paid = store
        .as_ref()
        .and_then(|s| s.landed_patches().ok())
        .unwrap_or_default();
    Ok(DebtReport {
        schema: "carry.debt/v1",
        today,
        patches,
        projects,
        features,
        trend,
        paid,
    })
}

fn add(summary: &mut Summary, patch: &Debt) {
    summary.count += 1;
    summary.overdue += usize::from(patch.overdue);
    summary.untracked += usize::from(patch.upstream.untracked);
    if let Some(age) = patch.age_days {
        summary.oldest_days = Some(summary.oldest_days.map_or(age, |old| old.max(age)));
    }
}

/// The subject, whole message and author date of a patch, from its commit or its file.
fn patch_words(
    workspace: &LoadedWorkspace,
    repo: Option<&git2::Repository>,
    source: &PatchSource,
) -> (String, String, Option<Date>) {
    match source {
        PatchSource::Commit(id) => {
            let Some(commit) = repo.and_then(|r| r.find_commit(*id).ok()) else {
                return (String::new(), String::new(), None);
            };
            let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
            let when = commit.author().when();
            (
                commit.summary().unwrap_or("").to_owned(),
                message,
                date_of(when.seconds()),
            )
        }
        PatchSource::File { path, strip, .. } => {
            let Ok(bytes) = std::fs::read(workspace.root.join(path)) else {
                return (String::new(), String::new(), None);
            };
            match patchfile::parse(path, &bytes, *strip) {
                Ok(file) => {
                    let authored = file
                        .author
                        .as_ref()
                        .and_then(|a| date_of(a.time))
                        .filter(|_| file.author.as_ref().is_some_and(|a| a.time != 0));
                    (file.subject.clone(), file.message(), authored)
                }
                Err(_) => (String::new(), String::new(), None),
            }
        }
    }
}

fn date_of(seconds: i64) -> Option<Date> {
    jiff::Timestamp::from_second(seconds)
        .ok()
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
}

/// The last `Key: value` line of a message, key matched case-insensitively.
fn field(message: &str, key: &str) -> Option<String> {
    message
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim().to_owned())
        .rfind(|v| !v.is_empty())
}

fn upstream_state(message: &str) -> UpstreamState {
    let status = field(message, "Upstream-Status");
    let forwarded = field(message, "Forwarded");
    let applied_upstream = field(message, "Applied-Upstream");
    let change_id = field(message, "Change-Id");
    let link = [
        status.as_deref(),
        forwarded.as_deref(),
        applied_upstream.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(|text| {
        text.split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .find(|word| word.starts_with("http://") || word.starts_with("https://"))
            .map(str::to_owned)
    });
    let untracked = status.is_none()
        && forwarded.is_none()
        && applied_upstream.is_none()
        && change_id.is_none();
    UpstreamState {
        status,
        forwarded,
        applied_upstream,
        change_id,
        link,
        untracked,
    }
}

/// Today in UTC, or `CARRY_TODAY` (YYYY-MM-DD) when set, for reproducible ledgers.
pub fn today() -> Date {
    std::env::var("CARRY_TODAY")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| {
            jiff::Timestamp::now()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date()
        })
}
