//! `carry doctor`: a workspace's state examined without changing it, each problem with what
//! to do about it.
//!
//! Every other command repairs what it safely can on its way (a dead run's leftovers, ref
//! lock files, a half-done promotion); the doctor only looks, so it is safe to run while a
//! run goes on and says what the next command would repair.

use std::path::Path;

use carry_adapters::lock::LockState;
use carry_adapters::process_tree;
use carry_adapters::process_tree::Selector;
use carry_adapters::store::RunState;
use carry_adapters::store::Store;
use carry_adapters::store::StoreHealth;
use serde::Serialize;

use crate::promotion_plan::PromotionPlan;
use crate::workspace::MANIFEST_FILE;

/// The schema of `carry doctor --json`.
pub const DOCTOR_SCHEMA: &str = "carry.doctor/v1";

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// All is well.
    Ok,
    /// Worth knowing; the next command repairs it, or it harms nothing.
    Warning,
    /// Needs a human.
    Problem,
}

impl Severity {
    /// Its name in text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Problem => "problem",
        }
    }
}

/// One thing the doctor looked at.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was checked: `manifest`, `store`, `lock`, `processes`, `runs`, `promotion`,
    /// `refs`, `resolve`.
    pub check: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// What was found.
    pub summary: String,
    /// What to do, when something should be done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: &'static str, summary: impl Into<String>) -> Self {
        Self {
            check,
            severity: Severity::Ok,
            summary: summary.into(),
            fix: None,
        }
    }

    fn warning(check: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            severity: Severity::Warning,
            summary: summary.into(),
            fix: Some(fix.into()),
        }
    }

    fn problem(check: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            severity: Severity::Problem,
            summary: summary.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Everything the doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// [`DOCTOR_SCHEMA`].
    pub schema: &'static str,
    /// The workspace root.
    pub workspace: String,
    /// In the order checked.
    pub findings: Vec<Finding>,
}

impl DoctorReport {
    /// The worst finding's severity.
    pub fn worst(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok)
    }
}

/// Examines the workspace whose root (holding `carry.toml`) is `root`.
pub fn examine(root: &Path) -> DoctorReport {
    let state = root.join(".carry");
    let mut findings = Vec::new();
    let repos = manifest(root, &mut findings);
    let store_sound = store(&state, &mut findings);
    let lock = lock(&state, &mut findings);
    processes(&state, &lock, &mut findings);
    if store_sound {
        runs_and_promotion(&state, &lock, &mut findings);
    }
    refs(root, &repos, &mut findings);
    resolves(&state, &mut findings);
    DoctorReport {
        schema: DOCTOR_SCHEMA,
        workspace: root.display().to_string(),
        findings,
    }
}

/// The manifest parses; returns each project's repository (relative to the root).
fn manifest(root: &Path, findings: &mut Vec<Finding>) -> Vec<(String, String)> {
    let path = root.join(MANIFEST_FILE);
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => {
            findings.push(Finding::problem(
                "manifest",
                format!("cannot read {}: {error}", path.display()),
                "make carry.toml readable",
            ));
            return Vec::new();
        }
    };
    match carry_graph::manifest::parse(MANIFEST_FILE, &text) {
        Ok(manifest) => {
            let projects = &manifest.workspace.projects;
            findings.push(Finding::ok(
                "manifest",
                format!(
                    "{MANIFEST_FILE} parses: {} project{}, {} feature{} (`carry validate` reads the series too)",
                    projects.len(),
                    plural(projects.len()),
                    manifest.workspace.features.len(),
                    plural(manifest.workspace.features.len()),
                ),
            ));
            projects
                .values()
                .map(|p| (p.name.to_string(), p.repo.clone()))
                .collect()
        }
        Err(error) => {
            findings.push(Finding::problem(
                "manifest",
                error.to_string(),
                "`carry validate` shows each problem at its file:line",
            ));
            Vec::new()
        }
    }
}

/// The store opens and is sound; returns whether it can be read further.
fn store(state: &Path, findings: &mut Vec<Finding>) -> bool {
    let shown = ".carry/carry.db";
    match carry_adapters::store::inspect(state) {
        StoreHealth::Missing => {
            findings.push(Finding::ok(
                "store",
                format!("no {shown} yet: the first run makes it"),
            ));
            false
        }
        StoreHealth::Sound {
            version,
            known,
            runs,
        } => {
            let migration = if version < known {
                format!("; the next command migrates it to {known}")
            } else {
                String::new()
            };
            findings.push(Finding::ok(
                "store",
                format!(
                    "{shown}: sound, schema version {version} of {known}{migration}, {runs} run{} recorded",
                    plural(usize::try_from(runs).unwrap_or(0))
                ),
            ));
            true
        }
        StoreHealth::TooNew { version, known } => {
            findings.push(Finding::problem(
                "store",
                format!("{shown} has schema version {version}; this carry knows up to {known}"),
                "a newer carry wrote it: use that carry (or a newer one) with this workspace",
            ));
            false
        }
        StoreHealth::Damaged(why) => {
            findings.push(Finding::problem(
                "store",
                format!("{shown} is damaged: {why}"),
                "move it aside (`mv .carry/carry.db .carry/carry.db.damaged`, with its -wal and -shm files); the next run starts a new store. Lost: run history, reuse of earlier rebase and test results, remembered landed patches and first-seen dates. Kept: your branches and patch files, candidates under refs/carry/, test logs",
            ));
            false
        }
    }
}

fn lock(state: &Path, findings: &mut Vec<Finding>) -> LockState {
    let found = carry_adapters::lock::inspect(state);
    findings.push(match &found {
        LockState::Free { stale: None } => Finding::ok("lock", "no carry holds the workspace"),
        LockState::Free { stale: Some(holder) } => Finding::warning(
            "lock",
            format!(
                "no carry holds the workspace; .carry/lock still names run {} (pid {}, started {}), which died without clearing it",
                holder.run, holder.pid, holder.started_at
            ),
            "nothing: the lock is the kernel's and went with that process; the next run takes it",
        ),
        LockState::Held(Some(holder)) => Finding::ok(
            "lock",
            format!(
                "run {} (pid {}, started {}) holds the workspace",
                holder.run, holder.pid, holder.started_at
            ),
        ),
        LockState::Held(None) => Finding::ok("lock", "another carry holds the workspace"),
        LockState::Unusable(why) => Finding::problem(
            "lock",
            format!("the lock file cannot be used: {why}"),
            ".carry/ must be a writable directory and .carry/lock a file (remove whatever stands in its place)",
        ),
    });
    found
}

fn processes(state: &Path, lock: &LockState, findings: &mut Vec<Finding>) {
    let tag = process_tree::workspace_tag(state);
    let found = process_tree::find(Selector::Workspace(&tag));
    if found.is_empty() {
        findings.push(Finding::ok("processes", "no test process is running"));
        return;
    }
    let listed: Vec<String> = found
        .iter()
        .map(|p| format!("pid {} ({}, test {})", p.pid, p.command, p.test))
        .collect();
    findings.push(match lock {
        LockState::Held(_) => Finding::ok(
            "processes",
            format!(
                "{} test process{} of the run going on: {}",
                found.len(),
                plural_es(found.len()),
                listed.join("; ")
            ),
        ),
        _ => Finding::problem(
            "processes",
            format!(
                "{} test process{} a dead carry left running: {}",
                found.len(),
                plural_es(found.len()),
                listed.join("; ")
            ),
            "the next `carry run` (or `carry promote`) ends them before it starts; or end them now with `kill`",
        ),
    });
}

fn runs_and_promotion(state: &Path, lock: &LockState, findings: &mut Vec<Finding>) {
    let Ok(store) = Store::open(state) else {
        return;
    };
    let runs = store.runs(20).unwrap_or_default();
    let live = matches!(lock, LockState::Held(_));
    let dead: Vec<&str> = runs
        .iter()
        .filter(|run| run.status == RunState::Running && !live)
        .map(|run| run.id.as_str())
        .collect();
    let interrupted = runs
        .first()
        .filter(|run| run.status == RunState::Interrupted);
    if !dead.is_empty() {
        findings.push(Finding::warning(
            "runs",
            format!("run {} died while running", dead.join(", ")),
            "`carry run` resumes it, reusing every step it finished",
        ));
    } else if let Some(run) = interrupted {
        findings.push(Finding::warning(
            "runs",
            format!("the last run, {}, was interrupted", run.id),
            "`carry run` resumes it, reusing every step it finished",
        ));
    } else {
        findings.push(Finding::ok(
            "runs",
            match runs.first() {
                Some(run) => format!("the last run, {}: {}", run.id, run.status.as_str()),
                None => "no run yet".to_owned(),
            },
        ));
    }
    match store.unfinished_promotion::<PromotionPlan>() {
        Ok(None) => findings.push(Finding::ok("promotion", "no promotion is half done")),
        Ok(Some((id, plan))) if live => findings.push(Finding::ok(
            "promotion",
            format!("promotion {id} of run {} is going on", plan.run),
        )),
        Ok(Some((id, plan))) => findings.push(Finding::warning(
            "promotion",
            format!(
                "promotion {id} of run {} was cut short after some of its {} steps",
                plan.run,
                plan.steps.len()
            ),
            "the next carry command finishes it before anything else; `carry promote --abandon` gives it up instead",
        )),
        Err(error) => findings.push(Finding::problem(
            "promotion",
            format!("the recorded promotion cannot be read: {error}"),
            "`carry promote --abandon` gives it up",
        )),
    }
}

/// Each project's refs under `refs/carry/`: readable, pointing at objects that exist, and no
/// lock file left behind.
fn refs(root: &Path, repos: &[(String, String)], findings: &mut Vec<Finding>) {
    for (project, relative) in repos {
        let path = root.join(relative);
        let repo = match git2::Repository::open(&path) {
            Ok(repo) => repo,
            Err(error) => {
                findings.push(Finding::problem(
                    "refs",
                    format!(
                        "{project}: cannot open {}: {}",
                        path.display(),
                        error.message()
                    ),
                    format!(
                        "make {relative} a git repository, or fix `repo` of [project.{project}]"
                    ),
                ));
                continue;
            }
        };
        let mut count = 0;
        let mut broken = Vec::new();
        if let Ok(references) = repo.references_glob("refs/carry/*") {
            for reference in references {
                let Ok(reference) = reference else {
                    continue;
                };
                count += 1;
                let name = reference.name().unwrap_or("?").to_owned();
                let points = reference
                    .target()
                    .is_some_and(|oid| repo.find_object(oid, None).is_ok());
                if !points {
                    broken.push(name);
                }
            }
        }
        let locks = ref_locks(&repo.path().join("refs").join("carry"));
        if !broken.is_empty() {
            let deletes: Vec<String> = broken
                .iter()
                .map(|name| format!("git -C {relative} update-ref -d {name}"))
                .collect();
            findings.push(Finding::problem(
                "refs",
                format!(
                    "{project}: {} of {count} refs under refs/carry/ point at nothing: {}",
                    broken.len(),
                    broken.join(", ")
                ),
                format!(
                    "delete them ({}); the next run makes them again",
                    deletes.join("; ")
                ),
            ));
        } else if !locks.is_empty() {
            findings.push(Finding::warning(
                "refs",
                format!(
                    "{project}: a killed carry left {} ref lock file{}: {}",
                    locks.len(),
                    plural(locks.len()),
                    locks.join(", ")
                ),
                "nothing: the next run removes them (with no carry running, `rm` does too)",
            ));
        } else {
            findings.push(Finding::ok(
                "refs",
                format!(
                    "{project}: {count} ref{} under refs/carry/, all sound",
                    plural(count)
                ),
            ));
        }
    }
}

/// Conflicts being resolved by hand (`carry resolve`), and any whose worktree is gone.
fn resolves(state: &Path, findings: &mut Vec<Finding>) {
    let Ok(projects) = std::fs::read_dir(state.join("resolve")) else {
        return;
    };
    let mut sessions: Vec<(String, crate::resolve::ResolveSession)> = projects
        .flatten()
        .filter_map(|project| std::fs::read_dir(project.path()).ok())
        .flat_map(Iterator::flatten)
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "json"))
        .filter_map(|entry| {
            let bytes = std::fs::read(entry.path()).ok()?;
            let session = serde_json::from_slice(&bytes).ok()?;
            Some((entry.path().display().to_string(), session))
        })
        .collect();
    sessions.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, session) in sessions {
        findings.push(if session.worktree.is_dir() {
            Finding::ok(
                "resolve",
                format!(
                    "{} is being resolved (since {}) in {}",
                    session.patch,
                    session.started_at,
                    session.worktree.display()
                ),
            )
        } else {
            Finding::warning(
                "resolve",
                format!(
                    "the resolve of {} lost its worktree {}",
                    session.patch,
                    session.worktree.display()
                ),
                format!("`carry resolve --abort {}` clears it", session.patch),
            )
        });
    }
}

fn ref_locks(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "lock") {
                found.push(path.display().to_string());
            }
        }
    }
    found.sort();
    found
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn plural_es(count: usize) -> &'static str {
    if count == 1 { "" } else { "es" }
}
