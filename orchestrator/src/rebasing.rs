//! The rebase step of a run: each planned project's series rebased in memory onto its new
//! upstream (or its earlier result for the same inputs reused), the projects of one stage
//! side by side, the result packed and named by `refs/carry/candidate/<project>`.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;

use carry_adapters::git::ProjectRepo;
use carry_adapters::pack;
use carry_adapters::rebase;
use carry_adapters::rebase::Outcome;
use carry_adapters::rebase::PatchBody;
use carry_adapters::rebase::PatchInput;
use carry_adapters::rebase::RebaseOptions;
use carry_adapters::rebase::RebaseRequest;
use carry_adapters::rebase::landed::UpstreamCache;
use carry_adapters::series::SeriesListing;
use carry_adapters::store::Step;
use carry_adapters::store::Store;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use carry_graph::workspace::Project;
use carry_graph::workspace::SeriesSource;
use carry_graph::workspace::UpstreamSource;
use git2::Oid;

use crate::error::RunError;
use crate::error::error_chain;
use crate::events::Progress;
use crate::events::RunEvent;
use crate::options::RunOptions;
use crate::refs::CANDIDATE_REFS;
use crate::report::PatchReport;
use crate::report::ProjectReport;
use crate::report::ProjectStatus;
use crate::report::TestReport;
use crate::report::TestStatus;
use crate::report::UpstreamMove;
use crate::series_inputs::SeriesInput;
use crate::series_inputs::branch_inputs;
use crate::series_inputs::dir_base;
use crate::series_inputs::dir_commits;

/// Rebases `projects`, as many at a time as the machine has cores. Each worker has its own connection to the store (SQLite
/// serialises the writes); one project alone is rebased on this thread.
pub(crate) fn rebase_side_by_side<'n>(
    projects: &[&'n ProjectName],
    state_dir: &Path,
    store: &Store,
    work: &StageWork<'_>,
    progress: &dyn Progress,
) -> Result<Vec<(&'n ProjectName, ProjectReport)>, RunError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(projects.len());
    if workers <= 1 {
        return projects
            .iter()
            .map(|&name| {
                Ok((
                    name,
                    rebase_project(&work.project(name, store, false), progress)?,
                ))
            })
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(projects.len()));
    let worker = || -> Result<(), RunError> {
        let store = Store::open(state_dir)?;
        loop {
            let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Some(&name) = projects.get(index) else {
                return Ok(());
            };
            let report = rebase_project(&work.project(name, &store, true), progress);
            let failed = report.is_err();
            results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((index, (name, report)));
            if failed {
                // The first error ends the run; the others need not start.
                next.store(projects.len(), std::sync::atomic::Ordering::SeqCst);
                return Ok(());
            }
        }
    };
    let opened: Vec<Result<(), RunError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    for result in opened {
        result?;
    }
    crate::fetching::in_order(results)
        .into_iter()
        .map(|(name, report)| Ok((name, report?)))
        .collect()
}

/// What every project of a stage is rebased with.
pub(crate) struct StageWork<'a> {
    pub(crate) root: &'a Path,
    pub(crate) projects: &'a BTreeMap<ProjectName, Project>,
    pub(crate) series: &'a BTreeMap<ProjectName, SeriesListing>,
    /// Patches blocked by failures in earlier stages, through features.
    pub(crate) blocked: &'a BTreeMap<PatchRef, BTreeSet<PatchRef>>,
    /// Each patch's feature needs on patches of its own series.
    pub(crate) own_needs: &'a BTreeMap<PatchRef, Vec<String>>,
    pub(crate) options: &'a RunOptions,
    pub(crate) run_id: &'a str,
}

impl StageWork<'_> {
    fn project<'s>(
        &'s self,
        name: &ProjectName,
        store: &'s Store,
        side_by_side: bool,
    ) -> ProjectWork<'s> {
        ProjectWork {
            side_by_side,
            root: self.root,
            project: &self.projects[name],
            listing: self.series.get(name),
            blocked: self.blocked,
            own_needs: self.own_needs,
            options: self.options,
            store,
            run_id: self.run_id,
        }
    }
}

struct ProjectWork<'a> {
    /// Other projects are rebased at the same time (each then uses one thread).
    side_by_side: bool,
    root: &'a Path,
    project: &'a Project,
    listing: Option<&'a SeriesListing>,
    blocked: &'a BTreeMap<PatchRef, BTreeSet<PatchRef>>,
    own_needs: &'a BTreeMap<PatchRef, Vec<String>>,
    options: &'a RunOptions,
    store: &'a Store,
    run_id: &'a str,
}

/// A series read and ready for the engine: its repository (and a handle whose writes stay in
/// memory), where it moves, and the engine's request.
struct Prepared {
    repo: ProjectRepo,
    batch: ProjectRepo,
    upstream: UpstreamMove,
    to: Oid,
    request: RebaseRequest,
    /// What reading each patch file noted, by patch name.
    read_notes: BTreeMap<String, Vec<String>>,
}

/// Reads the project's series as the engine's request; a project carry cannot work on is
/// its error report.
#[expect(
    clippy::result_large_err,
    reason = "once per project: the report is what the caller returns"
)]
fn prepare(work: &ProjectWork<'_>) -> Result<Prepared, ProjectReport> {
    let project = work.project;
    let name = &project.name;
    let repo_path = work.root.join(&project.repo);
    let local_upstream = match &project.upstream.source {
        UpstreamSource::Path(path) => Some(work.root.join(path)),
        UpstreamSource::Url(_) => None,
    };
    let repo = match ProjectRepo::open(&repo_path, local_upstream.as_deref()) {
        Ok(repo) => repo,
        Err(error) => return Err(ProjectReport::error(name, None, error.to_string())),
    };
    let Some(to) = repo
        .upstream_tip(&project.upstream.reference)
        .filter(|to| repo.has_own_object(*to))
    else {
        return Err(ProjectReport::error(
            name,
            None,
            format!(
                "upstream '{}' is not fetched; run `carry fetch {name}` (or a run without --offline)",
                project.upstream.reference
            ),
        ));
    };
    let Some(listing) = work.listing else {
        return Err(ProjectReport::error(
            name,
            None,
            "the series could not be read; run `carry validate`".to_owned(),
        ));
    };

    // Where the series sits now, and (for a branch) its patches as commits on it.
    let (from, branch) = match &project.series.source {
        SeriesSource::Branch(_) => {
            let Some(base) = listing.base else {
                return Err(ProjectReport::error(
                    name,
                    None,
                    "the series has no base; run `carry validate`".to_owned(),
                ));
            };
            (base, Some(branch_inputs(listing)))
        }
        SeriesSource::Dir(_) => match dir_base(&repo, project, to) {
            Ok(base) => (base, None),
            Err(error) => return Err(ProjectReport::error(name, None, error)),
        },
    };
    let upstream = UpstreamMove {
        from: from.to_string(),
        to: to.to_string(),
    };
    // New objects stay in memory until the series is done, then go to disk as one pack:
    // the commits a patch directory's files become, and the rebased ones.
    let batch = match repo.with_writes_in_memory() {
        Ok(batch) => batch,
        Err(error) => {
            return Err(ProjectReport::error(
                name,
                Some(upstream),
                error_chain(&error),
            ));
        }
    };
    let inputs = match branch {
        Some(inputs) => inputs,
        None => match dir_commits(work.root, &batch, from, listing) {
            Ok(inputs) => inputs,
            Err(error) => return Err(ProjectReport::error(name, Some(upstream), error)),
        },
    };
    let applied_commits: Vec<Oid> = match &project.series.source {
        SeriesSource::Dir(_) => inputs
            .iter()
            .filter_map(|input| match input.body {
                PatchBody::Commit(id) => Some(id),
                PatchBody::Unusable { .. } => None,
            })
            .collect(),
        SeriesSource::Branch(_) => Vec::new(),
    };
    // The files' commits go to disk first: reports name them (each patch's `from`), and the
    // landed check reads them from other threads.
    if !applied_commits.is_empty()
        && let Err(error) = pack::write_new_objects(batch.repo(), from, from, &applied_commits)
    {
        return Err(ProjectReport::error(
            name,
            Some(upstream),
            error_chain(&error),
        ));
    }

    let mut read_notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let request = RebaseRequest {
        old_base: from,
        onto: to,
        patches: inputs
            .into_iter()
            .map(
                |SeriesInput {
                     name: patch_name,
                     body,
                     notes,
                 }| {
                    if !notes.is_empty() {
                        read_notes.insert(patch_name.clone(), notes);
                    }
                    // The names come from the series listing, which made them as patch names.
                    let qualified = PatchRef::new(
                        name.clone(),
                        patch_name
                            .parse()
                            .expect("listed names are valid patch names"),
                    );
                    PatchInput {
                        blocked_by: work
                            .blocked
                            .get(&qualified)
                            .map(|causes| causes.iter().map(ToString::to_string).collect())
                            .unwrap_or_default(),
                        needs: work.own_needs.get(&qualified).cloned().unwrap_or_default(),
                        name: patch_name,
                        body,
                    }
                },
            )
            .collect(),
        resolutions: work.store.resolutions_of(name.as_str()).map_err(|error| {
            ProjectReport::error(
                name,
                None,
                format!("reading its recorded resolutions: {error}"),
            )
        })?,
        drops: work
            .store
            .drops()
            .map_err(|error| {
                ProjectReport::error(
                    name,
                    None,
                    format!("reading the patches dropped from it: {error}"),
                )
            })?
            .into_iter()
            .filter(|dropped| dropped.project == name.as_str())
            .map(|dropped| (dropped.patch, dropped.reason))
            .collect(),
    };
    Ok(Prepared {
        repo,
        batch,
        upstream,
        to,
        request,
        read_notes,
    })
}

/// The result of an earlier rebase of the same inputs (a run, or one killed after this
/// step), with the candidate ref pointed at it again.
fn reuse_previous(
    work: &ProjectWork<'_>,
    repo: &ProjectRepo,
    key: &str,
    progress: &dyn Progress,
) -> Result<Option<ProjectReport>, RunError> {
    let name = &work.project.name;
    if work.options.fresh {
        return Ok(None);
    }
    let Some(previous) = work.store.rebase_result::<ProjectReport>(key)? else {
        return Ok(None);
    };
    let Some(result) = previous
        .result
        .as_deref()
        .and_then(|r| Oid::from_str(r).ok())
        .filter(|&result| repo.repo().find_commit(result).is_ok())
    else {
        return Ok(None);
    };
    let candidate_ref = format!("{CANDIDATE_REFS}{name}");
    if repo
        .repo()
        .reference(&candidate_ref, result, true, "carry: candidate (reused)")
        .is_err()
    {
        return Ok(None);
    }
    progress.event(RunEvent::Reused {
        project: name.clone(),
        what: "rebase",
    });
    work.store
        .journal(work.run_id, Step::ReusedRebase, name.as_str(), key)?;
    Ok(Some(previous))
}

fn rebase_project(
    work: &ProjectWork<'_>,
    progress: &dyn Progress,
) -> Result<ProjectReport, RunError> {
    let name = &work.project.name;
    let Prepared {
        repo,
        batch,
        upstream,
        to,
        request,
        mut read_notes,
    } = match prepare(work) {
        Ok(prepared) => prepared,
        Err(report) => return Ok(report),
    };
    let key = rebase_key(name, &request, work.options.skip_first_bad);
    if let Some(previous) = reuse_previous(work, &repo, &key, progress)? {
        return Ok(previous);
    }
    progress.event(RunEvent::Rebasing {
        project: name.clone(),
        patches: request.patches.len(),
    });
    let started = std::time::Instant::now();
    let mut cache: UpstreamCache = work.store.upstream_cache(name.as_str())?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "cache loaded");
    let rebase_options = RebaseOptions {
        skip_first_bad: work.options.skip_first_bad,
        one_thread: work.side_by_side,
    };
    let total = request.patches.len();
    let mut on_patch = |index: usize, patch: &str| {
        progress.event(RunEvent::Patch {
            project: name.clone(),
            index,
            total,
            name: patch.to_owned(),
        });
    };
    // The engine or the pack failing is this project's error, not the run's.
    let failed = |error: &dyn std::error::Error| {
        ProjectReport::error(name, Some(upstream.clone()), error_chain(error))
    };
    let result = match rebase::rebase_series_with_progress(
        batch.repo(),
        &request,
        &mut cache,
        &rebase_options,
        &mut on_patch,
    ) {
        Ok(result) => result,
        Err(error) => return Ok(failed(&error)),
    };
    let started = std::time::Instant::now();
    match pack::write_new_objects(batch.repo(), result.tip, to, &[]) {
        Ok(stats) => tracing::debug!(
            commits = stats.commits,
            objects = stats.objects,
            elapsed_ms = started.elapsed().as_millis(),
            "pack written"
        ),
        Err(error) => return Ok(failed(&error)),
    }
    let started = std::time::Instant::now();
    work.store.save_upstream_cache(name.as_str(), &cache)?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "cache saved");

    let candidate_ref = format!("{CANDIDATE_REFS}{name}");
    if let Err(error) = repo.repo().reference(
        &candidate_ref,
        result.tip,
        true,
        &format!("carry: candidate for {name}"),
    ) {
        return Ok(ProjectReport::error(
            name,
            Some(upstream),
            format!("cannot write {candidate_ref}: {error}"),
        ));
    }
    let patches = result
        .patches
        .into_iter()
        .map(|patch| {
            let mut notes = read_notes.remove(&patch.name).unwrap_or_default();
            notes.extend(patch.notes);
            PatchReport {
                id: patch_ref(name, &patch.name),
                subject: patch.subject,
                from: patch.from,
                outcome: qualify(name, patch.outcome),
                notes,
                resolution: patch.resolution,
                review: None,
            }
        })
        .collect();
    let report = ProjectReport {
        name: name.clone(),
        status: ProjectStatus::Rebased,
        error: None,
        upstream: Some(upstream),
        result: Some(result.tip.to_string()),
        candidate_ref: Some(candidate_ref),
        test: TestReport::not_run(TestStatus::Skipped, "tests were not run"),
        patches,
    };
    work.store
        .save_rebase_result(&key, name.as_str(), work.run_id, &report)?;
    work.store
        .journal(work.run_id, Step::Rebased, name.as_str(), &key)?;
    Ok(report)
}

/// For each patch, the patches of its own project it needs through features, by name: the
/// rebase blocks it when one of them fails first (needs across projects are known before the
/// project starts, as `blocked_by`).
pub(crate) fn needs_within_projects(graph: &WorkspaceGraph) -> BTreeMap<PatchRef, Vec<String>> {
    let mut needs = BTreeMap::new();
    for project in graph.projects() {
        let Some(id) = graph.project(project.as_str()) else {
            continue;
        };
        for patch in graph.patches_of(id) {
            let Some(node) = graph.patch(&patch) else {
                continue;
            };
            let own: Vec<String> = graph
                .needs_of(node)
                .into_iter()
                .filter(|needed| needed.project == *project)
                .map(|needed| needed.name.to_string())
                .collect();
            if !own.is_empty() {
                needs.insert(patch, own);
            }
        }
    }
    needs
}

/// The identity of a rebase's inputs: same key, same result.
fn rebase_key(project: &ProjectName, request: &RebaseRequest, skip_first_bad: bool) -> String {
    let mut hash = sha1_smol::Sha1::new();
    hash.update(b"carry-rebase-v1\0");
    hash.update(project.as_str().as_bytes());
    hash.update(format!("\0{}\0{}\0{skip_first_bad}", request.old_base, request.onto).as_bytes());
    for patch in &request.patches {
        match &patch.body {
            PatchBody::Commit(commit) => {
                hash.update(format!("\0{}\0{commit}", patch.name).as_bytes());
            }
            PatchBody::Unusable { paths, problem, .. } => {
                hash.update(
                    format!("\0{}\0unusable\0{paths:?}\0{problem:?}", patch.name).as_bytes(),
                );
            }
        }
        for cause in &patch.blocked_by {
            hash.update(format!("\0!{cause}").as_bytes());
        }
        for needed in &patch.needs {
            hash.update(format!("\0?{needed}").as_bytes());
        }
    }
    // A resolution recorded or a patch dropped since changes what the series becomes.
    for resolution in &request.resolutions {
        hash.update(format!("\0={}", resolution.id).as_bytes());
    }
    let mut drops: Vec<_> = request.drops.iter().collect();
    drops.sort();
    for (name, reason) in drops {
        hash.update(format!("\0-{name}\0{reason}").as_bytes());
    }
    hash.digest().to_string()
}

/// The report's name for a patch the engine rebased: the engine answers with the names it
/// was given, which came from the series listing as patch names.
pub(crate) fn patch_ref(project: &ProjectName, name: &str) -> PatchRef {
    PatchRef::new(
        project.clone(),
        name.parse()
            .expect("the engine reports the patch names it was given"),
    )
}

/// Series-internal blockers are bare names; the report names every patch as `PROJECT/NAME`.
pub(crate) fn qualify(project: &ProjectName, outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Blocked { blocked_by } => Outcome::Blocked {
            blocked_by: blocked_by
                .into_iter()
                .map(|name| {
                    if name.contains('/') {
                        name
                    } else {
                        format!("{project}/{name}")
                    }
                })
                .collect(),
        },
        other => other,
    }
}
