//! `carry.toml`: text to a validated [`Workspace`], or every problem at once.
//!
//! Stage one ([`raw`]) checks the document's shape and keeps spans; stage two (this module)
//! checks names, references, durations, dates and cycles, and builds the [`Workspace`].
//! Diagnostics come back sorted by position; parsing never panics, whatever the input.

pub mod edit;
mod raw;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::Duration;

use raw::RawExecutor;
use raw::RawFeature;
use raw::RawManifest;
use raw::RawNotify;
use raw::RawProject;
use raw::Span;
use raw::Spanned;
use raw::Walker;

use crate::diagnostic::Diagnostic;
use crate::diagnostic::Location;
use crate::diagnostic::did_you_mean;
use crate::graph::Cycle;
use crate::graph::GraphError;
use crate::graph::WorkspaceGraph;
use crate::names::FeatureName;
use crate::names::PatchRef;
use crate::names::ProjectName;
use crate::workspace::DEFAULT_TEST_LOG_LIMIT;
use crate::workspace::DEFAULT_TEST_TIMEOUT;
use crate::workspace::ExecutorSpec;
use crate::workspace::Feature;
use crate::workspace::NotifySpec;
use crate::workspace::Project;
use crate::workspace::ProjectSpans;
use crate::workspace::Series;
use crate::workspace::SeriesSource;
use crate::workspace::TestSpec;
use crate::workspace::Upstream;
use crate::workspace::UpstreamSource;
use crate::workspace::Workspace;

/// The longest duration a manifest may give (a patch age, a timeout): 100 years. Longer ones
/// are mistakes, and dates or deadlines computed from them would leave the calendar.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// A manifest that validated: the workspace and the text it came from.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file as shown in messages (`carry.toml`).
    pub file: String,
    /// The manifest's text, for locating later problems.
    pub text: String,
    /// What it means.
    pub workspace: Workspace,
    /// Notes and warnings found while validating.
    pub warnings: Vec<Diagnostic>,
}

impl Manifest {
    /// The location of `span` in this manifest.
    pub fn location(&self, span: Span) -> Location {
        Location::from_span(&self.file, &self.text, span)
    }
}

/// A manifest that did not validate.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file} has {} problem{}", .diagnostics.iter().filter(|d| d.is_error()).count(), if .diagnostics.iter().filter(|d| d.is_error()).count() == 1 { "" } else { "s" })]
pub struct ManifestError {
    /// The file as shown in messages.
    pub file: String,
    /// Every problem, errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and validates `text`, shown in messages as `file`.
pub fn parse(file: &str, text: &str) -> Result<Manifest, ManifestError> {
    let mut walker = Walker::new(file, text);
    let document = match toml_edit::Document::parse(text) {
        Ok(document) => document,
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim().trim_end_matches('.').to_owned();
            let diagnostic = Diagnostic::error(format!("invalid TOML: {message}"))
                .at(Location::from_span(file, text, span))
                .with_label("here");
            return Err(ManifestError {
                file: file.to_owned(),
                diagnostics: vec![diagnostic],
            });
        }
    };
    let raw = walker.walk(document.as_item());
    let mut validator = Validator { walker };
    let workspace = validator.workspace(&raw);
    let mut diagnostics = validator.walker.diagnostics;
    diagnostics.sort_by_key(|d| d.location.as_ref().map(|l| (l.line, l.column)));
    match workspace {
        Some(workspace) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Manifest {
            file: file.to_owned(),
            text: text.to_owned(),
            workspace,
            warnings: diagnostics,
        }),
        _ => Err(ManifestError {
            file: file.to_owned(),
            diagnostics,
        }),
    }
}

struct Validator<'a> {
    walker: Walker<'a>,
}

impl Validator<'_> {
    /// `[executor]`: the kind and, for Slurm, where jobs go.
    fn executor(&mut self, raw: &RawExecutor) -> Option<ExecutorSpec> {
        let kind = raw.kind.as_ref().map_or("local", |k| k.value.as_str());
        match kind {
            "local" => {
                let slurm_only = [
                    raw.partition.as_ref().map(|p| p.span.clone()),
                    raw.shared_dir.as_ref().map(|d| d.span.clone()),
                    raw.sbatch_args.first().map(|a| a.span.clone()),
                ];
                let mut ok = true;
                for span in slurm_only.into_iter().flatten() {
                    self.error(
                        span,
                        "this key is for kind = \"slurm\"; the local executor takes none",
                    )
                    .help = Some("set kind = \"slurm\", or remove the key".to_owned());
                    ok = false;
                }
                ok.then_some(ExecutorSpec::Local)
            }
            "slurm" => {
                let partition = match &raw.partition {
                    Some(p)
                        if p.value.trim().is_empty()
                            || p.value.chars().any(char::is_whitespace) =>
                    {
                        self.error(
                            p.span.clone(),
                            format!("'{}' is not a partition name", p.value),
                        );
                        return None;
                    }
                    other => other.as_ref().map(|p| p.value.clone()),
                };
                let Some(shared_dir) = &raw.shared_dir else {
                    self.error(raw.anchor.clone(), "missing key 'shared-dir' in [executor] (kind = \"slurm\")")
                        .help = Some(
                        "name a directory every node of the cluster sees, such as shared-dir = \"/shared/carry\"".to_owned(),
                    );
                    return None;
                };
                if !shared_dir.value.starts_with('/') {
                    self.error(
                        shared_dir.span.clone(),
                        format!("shared-dir '{}' is not an absolute path", shared_dir.value),
                    )
                    .help = Some("the cluster's nodes must find it: give it from /".to_owned());
                    return None;
                }
                let before = self.walker.diagnostics.len();
                let sbatch_args = self.sbatch_args(&raw.sbatch_args);
                (self.walker.diagnostics.len() == before).then(|| ExecutorSpec::Slurm {
                    partition,
                    shared_dir: shared_dir.value.clone().into(),
                    sbatch_args,
                })
            }
            other => {
                let span = raw
                    .kind
                    .as_ref()
                    .map_or_else(|| raw.anchor.clone(), |k| k.span.clone());
                let message = match did_you_mean(other, ["local", "slurm"]) {
                    Some(near) => {
                        format!("unknown executor kind '{other}', did you mean '{near}'?")
                    }
                    None => format!("unknown executor kind '{other}'"),
                };
                self.error(span, message).help = Some("kind is \"local\" or \"slurm\"".to_owned());
                None
            }
        }
    }

    /// `[notify]`: every URL an http(s) one.
    fn notify(&mut self, raw: &RawNotify) -> Option<NotifySpec> {
        let mut ok = true;
        let mut check = |urls: &[Spanned<String>]| -> Vec<String> {
            let mut good = Vec::new();
            for url in urls {
                let value = url.value.trim();
                let scheme_ok = value.starts_with("https://") || value.starts_with("http://");
                let host_ok = value
                    .split_once("://")
                    .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
                if scheme_ok && host_ok && !value.chars().any(char::is_whitespace) {
                    good.push(value.to_owned());
                } else {
                    ok = false;
                    self.error(
                        url.span.clone(),
                        format!("'{}' is not an http(s) URL", url.value),
                    )
                    .help = Some("a webhook is an https:// (or http://) URL".to_owned());
                }
            }
            good
        };
        let webhooks = check(&raw.webhooks);
        let chat = check(&raw.chat);
        ok.then_some(NotifySpec { webhooks, chat })
    }

    /// `sbatch-args`, each checked: carry sets the job's name, time, output, directory and
    /// environment itself.
    fn sbatch_args(&mut self, raw: &[Spanned<String>]) -> Vec<String> {
        const CARRY_SETS: &[&str] = &[
            "--job-name",
            "-J",
            "--time",
            "-t",
            "--output",
            "-o",
            "--error",
            "-e",
            "--chdir",
            "-D",
            "--export",
            "--parsable",
            "--wrap",
            "--partition",
            "-p",
        ];
        let mut args = Vec::new();
        for arg in raw {
            let flag = arg.value.split('=').next().unwrap_or_default();
            if arg.value.trim().is_empty() {
                self.error(arg.span.clone(), "an sbatch argument is empty");
            } else if CARRY_SETS.contains(&flag) {
                self.error(
                    arg.span.clone(),
                    format!("carry sets {flag} itself; it cannot be given here"),
                )
                .help = Some(
                    "the test's timeout is the job's time limit; the partition is [executor] partition".to_owned(),
                );
            } else {
                args.push(arg.value.clone());
            }
        }
        args
    }

    fn error(&mut self, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.walker.error(span, message)
    }

    fn warning(&mut self, span: Span, message: impl Into<String>) {
        let diagnostic = Diagnostic::warning(message).at(self.walker.location(span));
        self.walker.diagnostics.push(diagnostic);
    }

    fn workspace(&mut self, raw: &RawManifest) -> Option<Workspace> {
        let mut ok = true;
        let (name, max_patch_age, test_timeout, timezone, test_log_limit) = match &raw.workspace {
            None => {
                self.error(0..0, "missing [workspace] table").help = Some(
                    "start the manifest with:\n[workspace]\nname = \"my-platform\"".to_owned(),
                );
                ok = false;
                (
                    String::new(),
                    None,
                    DEFAULT_TEST_TIMEOUT,
                    None,
                    DEFAULT_TEST_LOG_LIMIT,
                )
            }
            Some(workspace) => {
                let name = match &workspace.name {
                    Some(name) if !name.value.trim().is_empty() => name.value.clone(),
                    Some(name) => {
                        self.error(name.span.clone(), "workspace name is empty");
                        ok = false;
                        String::new()
                    }
                    None if seen(&workspace.seen, "name") => {
                        ok = false;
                        String::new()
                    }
                    None => {
                        self.error(
                            workspace.anchor.clone(),
                            "missing key 'name' in [workspace]",
                        )
                        .help = Some("add: name = \"my-platform\"".to_owned());
                        ok = false;
                        String::new()
                    }
                };
                let max_patch_age = workspace
                    .max_patch_age
                    .as_ref()
                    .and_then(|age| self.duration(age, "max-patch-age"));
                let test_timeout = workspace
                    .test_timeout
                    .as_ref()
                    .and_then(|timeout| self.duration(timeout, "test-timeout"))
                    .unwrap_or(DEFAULT_TEST_TIMEOUT);
                let timezone = workspace.timezone.as_ref().and_then(|zone| {
                    if zone.value.trim().is_empty() || zone.value.chars().any(char::is_whitespace) {
                        self.error(
                            zone.span.clone(),
                            format!("'{}' is not a time zone name", zone.value),
                        )
                        .help =
                            Some("use an IANA name such as \"UTC\" or \"Europe/Paris\"".to_owned());
                        None
                    } else {
                        Some(zone.value.clone())
                    }
                });
                let test_log_limit = workspace
                    .test_log_limit
                    .as_ref()
                    .and_then(|limit| self.size(limit, "test-log-limit"))
                    .unwrap_or(DEFAULT_TEST_LOG_LIMIT);
                (name, max_patch_age, test_timeout, timezone, test_log_limit)
            }
        };

        let known_projects: Vec<String> =
            raw.projects.iter().map(|p| p.name.value.clone()).collect();
        let mut projects = BTreeMap::new();
        for (position, raw_project) in raw.projects.iter().enumerate() {
            match self.project(raw_project, position, &known_projects, test_timeout) {
                Some(project) => {
                    projects.insert(project.name.clone(), project);
                }
                None => ok = false,
            }
        }
        let mut features = BTreeMap::new();
        for raw_feature in &raw.features {
            match self.feature(raw_feature, &known_projects) {
                Some(feature) => {
                    features.insert(feature.name.clone(), feature);
                }
                None => ok = false,
            }
        }
        let executor = match &raw.executor {
            None => ExecutorSpec::Local,
            Some(executor) => self.executor(executor).unwrap_or_else(|| {
                ok = false;
                ExecutorSpec::Local
            }),
        };
        let notify = match &raw.notify {
            None => NotifySpec::default(),
            Some(notify) => self.notify(notify).unwrap_or_else(|| {
                ok = false;
                NotifySpec::default()
            }),
        };
        if !ok {
            return None;
        }
        let workspace = Workspace {
            name,
            max_patch_age,
            test_timeout,
            timezone,
            test_log_limit,
            executor,
            notify,
            projects,
            features,
        };
        match WorkspaceGraph::from_manifest(&workspace) {
            Ok(_) => Some(workspace),
            Err(GraphError::Cycles(cycles)) => {
                for cycle in cycles {
                    self.cycle(&workspace, &cycle);
                }
                None
            }
        }
    }

    fn cycle(&mut self, workspace: &Workspace, cycle: &Cycle) {
        let message = cycle.to_string();
        match cycle {
            Cycle::Consumes(members) => {
                // The last step `a -> b` means b consumes a: point at that `consumes` entry.
                let span = closing_pair(members)
                    .and_then(|(consumed, consumer)| {
                        let project = workspace.projects.get(consumer)?;
                        let at = project.consumes.iter().position(|c| c == consumed)?;
                        project.spans.consumes.get(at).cloned()
                    })
                    .unwrap_or(0..0);
                self.error(span, message).label = Some("this closes the cycle".to_owned());
            }
            Cycle::Needs(members) => {
                let span = closing_pair(members)
                    .and_then(|(needer, needed)| {
                        workspace.features.values().find_map(|feature| {
                            let needs = feature.needs.get(needer)?;
                            let at = needs.iter().position(|n| n == needed)?;
                            feature.need_spans.get(needer)?.get(at).cloned()
                        })
                    })
                    .unwrap_or(0..0);
                self.error(span, message).label = Some("this closes the cycle".to_owned());
            }
            Cycle::Order(members) => {
                let span = members
                    .first()
                    .and_then(|first| workspace.projects.get(first))
                    .map_or(0..0, |p| p.spans.name.clone());
                self.error(span, message).help = Some(
                    "a patch that needs another project's patch is rebased after that project; \
                     check the feature needs against `consumes`"
                        .to_owned(),
                );
            }
        }
    }

    fn name<T: std::str::FromStr<Err = crate::names::NameError>>(
        &mut self,
        raw: &Spanned<String>,
        what: &str,
    ) -> Option<T> {
        match raw.value.parse::<T>() {
            Ok(name) => Some(name),
            Err(error) => {
                self.error(raw.span.clone(), format!("bad {what} name: {error}"))
                    .label = Some(format!("not a valid {what} name"));
                None
            }
        }
    }

    /// A size such as `"10MiB"`, `"512KiB"`, `"1GB"` or a number of bytes, between 64 KiB and
    /// 16 GiB.
    fn size(&mut self, raw: &Spanned<String>, key: &str) -> Option<u64> {
        const LEAST: u64 = 64 << 10;
        const MOST: u64 = 16 << 30;
        let text = raw.value.trim();
        let digits = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let unit = match text[digits..].trim() {
            "" | "B" => Some(1),
            "KiB" => Some(1 << 10),
            "MiB" => Some(1 << 20),
            "GiB" => Some(1 << 30),
            "KB" | "kB" => Some(1_000),
            "MB" => Some(1_000_000),
            "GB" => Some(1_000_000_000),
            _ => None,
        };
        let bytes = text[..digits]
            .parse::<u64>()
            .ok()
            .zip(unit)
            .and_then(|(n, unit)| n.checked_mul(unit));
        match bytes {
            Some(bytes) if (LEAST..=MOST).contains(&bytes) => Some(bytes),
            Some(_) => {
                self.error(
                    raw.span.clone(),
                    format!(
                        "'{key}' = \"{}\" must be between 64KiB and 16GiB",
                        raw.value
                    ),
                );
                None
            }
            None => {
                self.error(
                    raw.span.clone(),
                    format!("'{key}' = \"{}\" is not a size", raw.value),
                )
                .help =
                    Some("write a number and a unit, such as \"10MiB\" or \"500KiB\"".to_owned());
                None
            }
        }
    }

    fn duration(&mut self, raw: &Spanned<String>, key: &str) -> Option<Duration> {
        match humantime::parse_duration(raw.value.trim()) {
            Ok(duration) if duration > MAX_DURATION => {
                self.error(
                    raw.span.clone(),
                    format!(
                        "'{key}' = \"{}\" is longer than 100 years, which carry does not count",
                        raw.value
                    ),
                )
                .help = Some(
                    "a patch age or a timeout is given in days or hours, such as \"180d\""
                        .to_owned(),
                );
                None
            }
            Ok(duration) if !duration.is_zero() => Some(duration),
            Ok(_) => {
                self.error(
                    raw.span.clone(),
                    format!("'{key}' must be longer than zero"),
                );
                None
            }
            Err(error) => {
                self.error(
                    raw.span.clone(),
                    format!("'{key}' = \"{}\" is not a duration: {error}", raw.value),
                )
                .help = Some(
                    "write a number and a unit, such as \"30m\", \"2h\" or \"180d\"".to_owned(),
                );
                None
            }
        }
    }

    fn project(
        &mut self,
        raw: &RawProject,
        position: usize,
        known: &[String],
        default_timeout: Duration,
    ) -> Option<Project> {
        let name: Option<ProjectName> = self.name(&raw.name, "project");
        let label = format!("[project.{}]", raw.name.value);
        let mut ok = name.is_some();
        let mut spans = ProjectSpans {
            name: raw.name.span.clone(),
            ..ProjectSpans::default()
        };

        let repo = match &raw.repo {
            Some(repo) if !repo.value.trim().is_empty() => {
                spans.repo = repo.span.clone();
                self.within_workspace(repo, "repo")
            }
            Some(repo) => {
                self.error(repo.span.clone(), "'repo' is empty");
                None
            }
            None if seen(&raw.seen, "repo") => None,
            None => {
                self.error(
                    raw.name.span.clone(),
                    format!("missing key 'repo' in {label}"),
                )
                .help = Some(format!(
                    "add: repo = \"repos/{}\" (created bare if missing)",
                    raw.name.value
                ));
                None
            }
        };
        ok &= repo.is_some();

        let upstream = match &raw.upstream {
            None if seen(&raw.seen, "upstream") => None,
            None => {
                self.error(
                    raw.name.span.clone(),
                    format!("missing key 'upstream' in {label}"),
                )
                .help = Some("add: upstream = { url = \"https://…\", ref = \"main\" }".to_owned());
                None
            }
            Some(upstream) => {
                let source = match (&upstream.url, &upstream.path) {
                    (Some(url), None) => {
                        spans.upstream = url.span.clone();
                        self.url(url).map(UpstreamSource::Url)
                    }
                    (None, Some(path)) if !path.value.trim().is_empty() => {
                        spans.upstream = path.span.clone();
                        Some(UpstreamSource::Path(path.value.clone()))
                    }
                    (None, Some(path)) => {
                        self.error(path.span.clone(), "'upstream.path' is empty");
                        None
                    }
                    (Some(_), Some(path)) => {
                        self.error(
                            path.span.clone(),
                            format!("{label}: upstream has both 'url' and 'path'; keep one"),
                        );
                        None
                    }
                    (None, None) if seen(&upstream.seen, "url") || seen(&upstream.seen, "path") => {
                        None
                    }
                    (None, None) => {
                        self.error(
                            upstream.anchor.clone(),
                            format!("{label}: upstream needs 'url' or 'path'"),
                        );
                        None
                    }
                };
                let reference = match &upstream.reference {
                    Some(reference) => {
                        spans.upstream_ref = reference.span.clone();
                        self.revision(reference, "upstream.ref")
                    }
                    None if seen(&upstream.seen, "ref") => None,
                    None => {
                        self.error(
                            upstream.anchor.clone(),
                            format!("missing key 'ref' in {label} upstream"),
                        )
                        .help = Some(
                            "name the branch carry follows, such as ref = \"main\"".to_owned(),
                        );
                        None
                    }
                };
                match (source, reference) {
                    (Some(source), Some(reference)) => Some(Upstream { source, reference }),
                    _ => None,
                }
            }
        };
        ok &= upstream.is_some();

        let series = match &raw.series {
            None if seen(&raw.seen, "series") => None,
            None => {
                self.error(
                    raw.name.span.clone(),
                    format!("missing key 'series' in {label}"),
                )
                .help = Some(
                    "add: series = { branch = \"carried\" } or series = { dir = \"patches/NAME\" }"
                        .to_owned(),
                );
                None
            }
            Some(series) => {
                let source = match (&series.branch, &series.dir) {
                    (Some(branch), None) => {
                        spans.series = branch.span.clone();
                        self.reference(branch, "series.branch")
                            .map(SeriesSource::Branch)
                    }
                    (None, Some(dir)) if !dir.value.trim().is_empty() => {
                        spans.series = dir.span.clone();
                        self.within_workspace(dir, "series.dir")
                            .map(SeriesSource::Dir)
                    }
                    (None, Some(dir)) => {
                        self.error(dir.span.clone(), "'series.dir' is empty");
                        None
                    }
                    (Some(_), Some(dir)) => {
                        self.error(
                            dir.span.clone(),
                            format!("{label}: series has both 'branch' and 'dir'; a series is one or the other"),
                        )
                        .label = Some("second form here".to_owned());
                        None
                    }
                    (None, None) if seen(&series.seen, "branch") || seen(&series.seen, "dir") => {
                        None
                    }
                    (None, None) => {
                        self.error(
                            series.anchor.clone(),
                            format!("{label}: series needs 'branch' or 'dir'"),
                        )
                        .help = Some(
                            "a series is a branch of commits (branch = \"…\") or a directory of patch files with a `series` file (dir = \"…\")"
                                .to_owned(),
                        );
                        None
                    }
                };
                let base = series.base.as_ref().map(|base| {
                    spans.base = base.span.clone();
                    self.revision(base, "series.base")
                });
                match (source, base) {
                    (Some(source), None) => Some(Series { source, base: None }),
                    (Some(source), Some(Some(base))) => Some(Series {
                        source,
                        base: Some(base),
                    }),
                    _ => None,
                }
            }
        };
        ok &= series.is_some();

        let mut consumes = Vec::new();
        let mut listed = BTreeSet::new();
        for consumed in &raw.consumes {
            if !known.contains(&consumed.value) {
                let message = match did_you_mean(&consumed.value, known.iter().map(String::as_str))
                {
                    Some(near) => {
                        format!("no project '{}'; did you mean '{near}'?", consumed.value)
                    }
                    None => format!("no project '{}'", consumed.value),
                };
                self.error(consumed.span.clone(), message).label =
                    Some("unknown project in 'consumes'".to_owned());
                ok = false;
            } else if consumed.value == raw.name.value {
                self.error(
                    consumed.span.clone(),
                    format!("project '{}' consumes itself", raw.name.value),
                );
                ok = false;
            } else if !listed.insert(consumed.value.clone()) {
                self.warning(
                    consumed.span.clone(),
                    format!("'{}' is listed twice in 'consumes'", consumed.value),
                );
            } else if let Ok(consumed_name) = consumed.value.parse::<ProjectName>() {
                consumes.push(consumed_name);
                spans.consumes.push(consumed.span.clone());
            }
        }

        let test = match &raw.test {
            None => None,
            Some(test) => {
                let command = match &test.command {
                    Some(command) if !command.value.trim().is_empty() => {
                        Some(command.value.clone())
                    }
                    Some(command) => {
                        self.error(command.span.clone(), "test command is empty");
                        None
                    }
                    None if seen(&test.seen, "command") => None,
                    None => {
                        self.error(
                            test.anchor.clone(),
                            format!("missing key 'command' in {label} test"),
                        );
                        None
                    }
                };
                let timeout = match &test.timeout {
                    Some(timeout) => self.duration(timeout, "timeout"),
                    None => Some(default_timeout),
                };
                match (command, timeout) {
                    (Some(command), Some(timeout)) => Some(TestSpec {
                        command,
                        timeout,
                        sbatch_args: self.sbatch_args(&test.sbatch_args),
                    }),
                    _ => {
                        ok = false;
                        None
                    }
                }
            }
        };

        if !ok {
            return None;
        }
        Some(Project {
            name: name?,
            position,
            repo: repo?,
            upstream: upstream?,
            series: series?,
            consumes,
            test,
            spans,
        })
    }

    fn url(&mut self, url: &Spanned<String>) -> Option<String> {
        let value = url.value.trim();
        let has_scheme = value.split_once("://").is_some_and(|(scheme, rest)| {
            !rest.is_empty()
                && matches!(
                    scheme,
                    "https" | "http" | "ssh" | "git" | "file" | "git+ssh" | "ssh+git"
                )
        });
        // scp-like `[user@]host:path`, as git accepts: a colon before any slash.
        let scp_like = !value.contains("://")
            && value.split_once(':').is_some_and(|(host, path)| {
                !host.is_empty() && !host.contains('/') && !path.is_empty()
            });
        if (has_scheme || scp_like) && !value.chars().any(char::is_whitespace) {
            Some(value.to_owned())
        } else {
            self.error(url.span.clone(), format!("'{value}' is not a git URL"))
                .help = Some(
                "use https://, ssh://, git:// or user@host:path; for a local repository write path = \"…\""
                    .to_owned(),
            );
            None
        }
    }

    /// A path carry writes in or reads patches from: relative, and never out of the workspace
    /// through `..` (symlinks are checked where the files are read).
    fn within_workspace(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        let value = raw.value.as_str();
        let escapes = value.starts_with('/') || value.split(['/', '\\']).any(|part| part == "..");
        if escapes {
            self.error(
                raw.span.clone(),
                format!("'{key}' = \"{value}\" leaves the workspace"),
            )
            .help = Some("give a path inside the workspace, relative to carry.toml".to_owned());
            return None;
        }
        Some(value.to_owned())
    }

    fn revision(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        match check_revision(&raw.value) {
            Ok(()) => Some(raw.value.clone()),
            Err(why) => {
                self.error(
                    raw.span.clone(),
                    format!(
                        "'{key}' = \"{}\" is not a revision git resolves: {why}",
                        raw.value
                    ),
                );
                None
            }
        }
    }

    fn reference(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        match check_ref_name(&raw.value) {
            Ok(()) => Some(raw.value.clone()),
            Err(why) => {
                self.error(
                    raw.span.clone(),
                    format!(
                        "'{key}' = \"{}\" is not a valid git ref name: {why}",
                        raw.value
                    ),
                );
                None
            }
        }
    }

    fn feature(&mut self, raw: &RawFeature, known: &[String]) -> Option<Feature> {
        let name: Option<FeatureName> = self.name(&raw.name, "feature");
        let mut ok = name.is_some();
        let deadline = match &raw.deadline {
            None => None,
            Some(deadline) => match deadline.value.parse::<jiff::civil::Date>() {
                Ok(date) => Some(date),
                Err(error) => {
                    self.error(
                        deadline.span.clone(),
                        format!("'deadline' = \"{}\" is not a date: {error}", deadline.value),
                    )
                    .help = Some("write the date as YYYY-MM-DD, such as 2027-03-31".to_owned());
                    ok = false;
                    None
                }
            },
        };
        if raw.patches.is_empty() {
            self.warning(
                raw.name.span.clone(),
                format!("feature '{}' names no patches", raw.name.value),
            );
        }
        let mut needs = BTreeMap::new();
        let mut key_spans = BTreeMap::new();
        let mut need_spans = BTreeMap::new();
        for (key, raw_needs) in &raw.patches {
            let patch = self.patch_ref(key, known);
            let mut list = Vec::new();
            let mut spans = Vec::new();
            for needed in raw_needs {
                let Some(needed_ref) = self.patch_ref(needed, known) else {
                    ok = false;
                    continue;
                };
                if patch.as_ref() == Some(&needed_ref) {
                    self.error(
                        needed.span.clone(),
                        format!("patch '{needed_ref}' needs itself"),
                    );
                    ok = false;
                    continue;
                }
                if list.contains(&needed_ref) {
                    self.warning(
                        needed.span.clone(),
                        format!("'{needed_ref}' is listed twice"),
                    );
                    continue;
                }
                list.push(needed_ref);
                spans.push(needed.span.clone());
            }
            match patch {
                Some(patch) => {
                    key_spans.insert(patch.clone(), key.span.clone());
                    need_spans.insert(patch.clone(), spans);
                    needs.insert(patch, list);
                }
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(Feature {
            name: name?,
            description: raw.description.as_ref().map(|d| d.value.clone()),
            deadline,
            tracking: raw.tracking.as_ref().map(|t| t.value.clone()),
            needs,
            key_spans,
            need_spans,
        })
    }

    fn patch_ref(&mut self, raw: &Spanned<String>, known: &[String]) -> Option<PatchRef> {
        let patch: PatchRef = match raw.value.parse() {
            Ok(patch) => patch,
            Err(error) => {
                self.error(raw.span.clone(), format!("bad patch id: {error}"))
                    .help = Some(
                    "refer to a patch as PROJECT/NAME, such as \"libvirt/hostdev-vf\"".to_owned(),
                );
                return None;
            }
        };
        if !known.iter().any(|k| k == patch.project.as_str()) {
            let message =
                match did_you_mean(patch.project.as_str(), known.iter().map(String::as_str)) {
                    Some(near) => format!(
                        "no project '{}' for patch '{patch}'; did you mean '{near}'?",
                        patch.project
                    ),
                    None => format!("no project '{}' for patch '{patch}'", patch.project),
                };
            self.error(raw.span.clone(), message).label = Some("unknown project".to_owned());
            return None;
        }
        Some(patch)
    }
}

fn seen(keys: &[String], key: &str) -> bool {
    keys.iter().any(|k| k == key)
}

fn closing_pair<T>(members: &[T]) -> Option<(&T, &T)> {
    match members {
        [.., a, b] => Some((a, b)),
        _ => None,
    }
}

/// The ref name a revision starts with: `v9.0.0` of `v9.0.0~3`, `origin/main` of
/// `origin/main^{}`; the whole text when it has no suffix.
pub fn revision_name(revision: &str) -> &str {
    let end = revision
        .find(['~', '^', ':'])
        .into_iter()
        .chain(revision.find("@{"))
        .min()
        .unwrap_or(revision.len());
    &revision[..end]
}

/// Checks a revision as `git rev-parse` would take it for a commit: a ref name (or commit id)
/// followed by `~N`, `^N`, `^{}`, `^{commit}` or `@{…}` suffixes. Ranges, paths (`:`) and
/// options are refused.
pub fn check_revision(revision: &str) -> Result<(), &'static str> {
    if revision.starts_with('-') {
        return Err("it starts with '-'");
    }
    if revision.contains("..") {
        return Err("it is a range ('..'); name one commit");
    }
    if revision.contains(':') {
        return Err("it contains ':' (a path in a commit, not a commit)");
    }
    let name = revision_name(revision);
    if name.is_empty() && !revision.starts_with("@{") {
        return Err("it names no ref or commit before its suffix");
    }
    if !name.is_empty() {
        check_ref_name(name)?;
    }
    let suffix = &revision[name.len()..];
    let mut rest = suffix;
    while !rest.is_empty() {
        let digits =
            |text: &str| text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if let Some(after) = rest.strip_prefix('~').or_else(|| rest.strip_prefix('^')) {
            if let Some(braced) = after.strip_prefix('{') {
                let Some(close) = braced.find('}') else {
                    return Err("it has an unclosed '{'");
                };
                rest = &braced[close + 1..];
            } else {
                rest = &after[digits(after)..];
            }
        } else if let Some(braced) = rest.strip_prefix("@{") {
            let Some(close) = braced.find('}') else {
                return Err("it has an unclosed '@{'");
            };
            rest = &braced[close + 1..];
        } else {
            return Err("it has a suffix git does not take for a commit");
        }
    }
    Ok(())
}

/// git's ref-name rules (`git check-ref-format`), for one component or a path of them.
pub fn check_ref_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace or a control character");
    }
    if name.contains("..") {
        return Err("it contains '..'");
    }
    if name.contains("@{") || name == "@" {
        return Err("it contains '@{'");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err(match bad {
            '~' | '^' => "it contains '~' or '^' (name a ref or commit, not a revision expression)",
            _ => "it contains one of ': ? * [ \\'",
        });
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err("it has an empty path component");
    }
    #[allow(
        clippy::case_sensitive_file_extension_comparisons,
        reason = "git's rule is about the exact suffix `.lock`"
    )]
    let lock = name.ends_with(".lock");
    if name.ends_with('.') || lock {
        return Err("it ends with '.' or '.lock'");
    }
    if name.split('/').any(|part| part.starts_with('.')) {
        return Err("a component starts with '.'");
    }
    Ok(())
}
