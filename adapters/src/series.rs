//! Reading a carried series, in either form, into named patches.
//!
//! A branch series is the line of commits from its base to the branch tip; a patch directory is
//! the `series` file's entries, in order. Patches are named as SPEC says: a patch file's stem;
//! a commit's `Carry-Patch` trailer, else its subject's `git format-patch` slug; repeats get
//! `-2`, `-3`, …. Problems come back as diagnostics at the line that causes them (the
//! manifest, or the `series` file), never as a panic.

use std::collections::BTreeSet;
use std::path::Path;

use carry_graph::Diagnostic;
use carry_graph::Location;
use carry_graph::Manifest;
use carry_graph::PatchName;
use carry_graph::names::PatchNamer;
use carry_graph::names::format_patch_slug;
use carry_graph::workspace::Project;
use carry_graph::workspace::SeriesSource;
use carry_graph::workspace::UpstreamSource;
use git2::Oid;

pub use crate::git::short;

use crate::git::ProjectRepo;

/// Where a listed patch comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchSource {
    /// A commit of a branch series.
    Commit(Oid),
    /// A file of a patch directory.
    File {
        /// The file, relative to the workspace.
        path: String,
        /// Its line in the `series` file.
        series_line: usize,
        /// Leading path components to strip (`-pN`; 1 by default).
        strip: u32,
    },
}

/// One patch of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPatch {
    /// Its name in the series.
    pub name: PatchName,
    /// Its name before repeats were numbered.
    pub natural: String,
    /// Its subject line, where known.
    pub subject: Option<String>,
    /// Where it comes from.
    pub source: PatchSource,
}

/// A series as read from disk or from the repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesListing {
    /// The commit the series sits on, when it could be resolved.
    pub base: Option<Oid>,
    /// The patches, in order.
    pub patches: Vec<ListedPatch>,
    /// Natural names that more than one patch has: a bare reference to one is ambiguous.
    pub repeated: BTreeSet<String>,
}

impl SeriesListing {
    fn push(
        &mut self,
        namer: &mut PatchNamer,
        natural: String,
        subject: Option<String>,
        source: PatchSource,
    ) -> Result<(), carry_graph::NameError> {
        let name: PatchName = namer.next_name(&natural).parse()?;
        if name.as_str() != natural {
            self.repeated.insert(natural.clone());
        }
        self.patches.push(ListedPatch {
            name,
            natural,
            subject,
            source,
        });
        Ok(())
    }

    /// Whether `name` names a patch of this series.
    pub fn contains(&self, name: &str) -> bool {
        self.patches.iter().any(|patch| patch.name.as_str() == name)
    }
}

/// What reading a series found: the listing, when it could be read, and every problem.
#[derive(Debug, Default)]
pub struct SeriesInspection {
    /// The series, or `None` when it could not be read.
    pub listing: Option<SeriesListing>,
    /// Errors, warnings and notes, at the line that causes each.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads `project`'s series in the workspace at `root`.
pub fn inspect(manifest: &Manifest, root: &Path, project: &Project) -> SeriesInspection {
    let mut found = SeriesInspection::default();
    let repo_path = root.join(&project.repo);
    let local_upstream = match &project.upstream.source {
        UpstreamSource::Path(path) => Some(root.join(path)),
        UpstreamSource::Url(_) => None,
    };
    if let Some(upstream) = &local_upstream
        && !upstream.exists()
    {
        found.diagnostics.push(
            Diagnostic::error(format!(
                "upstream path '{}' does not exist",
                upstream.strip_prefix(root).unwrap_or(upstream).display()
            ))
            .at(manifest.location(project.spans.upstream.clone())),
        );
    }
    if let Err(problem) = inside_workspace(root, &repo_path) {
        found.diagnostics.push(
            Diagnostic::error(format!("repository {problem}"))
                .at(manifest.location(project.spans.repo.clone())),
        );
        return found;
    }
    let repo = if repo_path.exists() {
        match ProjectRepo::open(&repo_path, local_upstream.as_deref().filter(|p| p.exists())) {
            Ok(repo) => Some(repo),
            Err(error) => {
                found.diagnostics.push(
                    Diagnostic::error(format!("{error}: {}", source_message(&error)))
                        .at(manifest.location(project.spans.repo.clone())),
                );
                return found;
            }
        }
    } else {
        None
    };

    if let (Some(repo), UpstreamSource::Url(url)) = (&repo, &project.upstream.source)
        && repo.upstream_tip(&project.upstream.reference).is_none()
    {
        found.diagnostics.push(
            Diagnostic::note(format!(
                "upstream '{}' ({}) is not fetched yet; run `carry fetch {}`",
                carry_graph::redact::url(url),
                project.upstream.reference,
                project.name
            ))
            .at(manifest.location(project.spans.upstream.clone())),
        );
    }
    if let (Some(repo), UpstreamSource::Path(_)) = (&repo, &project.upstream.source)
        && repo.upstream_tip(&project.upstream.reference).is_none()
    {
        found.diagnostics.push(
            Diagnostic::error(format!(
                "upstream has no branch or tag '{}'",
                project.upstream.reference
            ))
            .at(manifest.location(project.spans.upstream_ref.clone())),
        );
    }

    match &project.series.source {
        SeriesSource::Branch(branch) => {
            branch_series(manifest, project, branch, repo.as_ref(), &mut found);
        }
        SeriesSource::Dir(dir) => {
            dir_series(manifest, root, project, dir, repo.as_ref(), &mut found);
        }
    }
    found
}

fn source_message(error: &dyn std::error::Error) -> String {
    error.source().map_or_else(String::new, ToString::to_string)
}

fn resolve_base(
    manifest: &Manifest,
    project: &Project,
    repo: &ProjectRepo,
    found: &mut SeriesInspection,
) -> Option<Oid> {
    let base = project.series.base.as_ref()?;
    let resolved = repo.resolve(base);
    if resolved.is_none() {
        let hint = if repo.has_local_upstream() {
            "not in the project repository nor in its upstream".to_owned()
        } else {
            format!(
                "not in the project repository; if it is an upstream tag, run `carry fetch {}`",
                project.name
            )
        };
        found.diagnostics.push(
            Diagnostic::error(format!("base '{base}' does not resolve: {hint}"))
                .at(manifest.location(project.spans.base.clone())),
        );
    }
    resolved
}

fn branch_series(
    manifest: &Manifest,
    project: &Project,
    branch: &str,
    repo: Option<&ProjectRepo>,
    found: &mut SeriesInspection,
) {
    let here = manifest.location(project.spans.series.clone());
    let Some(repo) = repo else {
        found.diagnostics.push(
            Diagnostic::error(format!(
                "repository '{}' does not exist, so branch '{branch}' cannot be read",
                project.repo
            ))
            .at(manifest.location(project.spans.repo.clone())),
        );
        return;
    };
    let Some(tip) = repo.branch_tip(branch) else {
        found.diagnostics.push(
            Diagnostic::error(format!(
                "branch '{branch}' does not exist in '{}'",
                project.repo
            ))
            .at(here),
        );
        return;
    };
    let base = if project.series.base.is_some() {
        match resolve_base(manifest, project, repo, found) {
            Some(base) => base,
            None => return,
        }
    } else {
        let Some(upstream) = repo.upstream_tip(&project.upstream.reference) else {
            found.diagnostics.push(
                Diagnostic::note(format!(
                    "the base of '{branch}' is its merge base with upstream, known after `carry fetch {}`",
                    project.name
                ))
                .at(here),
            );
            return;
        };
        match repo.merge_base(tip, upstream) {
            Ok(Some(base)) => base,
            Ok(None) => {
                found.diagnostics.push(
                    Diagnostic::error(format!(
                        "branch '{branch}' shares no history with upstream '{}'",
                        project.upstream.reference
                    ))
                    .at(here)
                    .with_help("set series.base to the upstream commit the series sits on"),
                );
                return;
            }
            Err(error) => {
                found.diagnostics.push(
                    Diagnostic::error(format!("{error}: {}", source_message(&error))).at(here),
                );
                return;
            }
        }
    };
    match crate::commits::series_commits(repo.repo(), base, tip) {
        Ok(commits) => {
            let mut listing = SeriesListing {
                base: Some(base),
                ..SeriesListing::default()
            };
            let mut namer = PatchNamer::default();
            for commit in commits {
                let natural = commit
                    .carry_patch
                    .clone()
                    .unwrap_or_else(|| natural_name_from_subject(&commit.subject, commit.id));
                if let Err(error) = listing.push(
                    &mut namer,
                    natural,
                    Some(commit.subject.clone()),
                    PatchSource::Commit(commit.id),
                ) {
                    found.diagnostics.push(
                        Diagnostic::error(format!(
                            "commit {} of branch '{branch}' has a bad Carry-Patch name: {error}",
                            short(commit.id)
                        ))
                        .at(here.clone()),
                    );
                }
            }
            found.listing = Some(listing);
        }
        Err(error) => {
            found
                .diagnostics
                .push(Diagnostic::error(error.to_string()).at(here));
        }
    }
}

/// The name a commit without a `Carry-Patch` trailer gets: its subject's slug, or its short id
/// when the subject has nothing a slug can keep.
pub fn natural_name_from_subject(subject: &str, id: Oid) -> String {
    let slug = format_patch_slug(subject);
    let slug = slug.trim_start_matches(['.', '-']);
    if slug.is_empty() {
        short(id)
    } else {
        slug.to_owned()
    }
}

fn dir_series(
    manifest: &Manifest,
    root: &Path,
    project: &Project,
    dir: &str,
    repo: Option<&ProjectRepo>,
    found: &mut SeriesInspection,
) {
    let here = manifest.location(project.spans.series.clone());
    match repo {
        Some(repo) => {
            resolve_base(manifest, project, repo, found);
        }
        None => found.diagnostics.push(
            Diagnostic::note(format!(
                "repository '{}' does not exist yet; `carry fetch {}` creates it",
                project.repo, project.name
            ))
            .at(manifest.location(project.spans.repo.clone())),
        ),
    }
    let dir_path = root.join(dir);
    if !dir_path.is_dir() {
        found
            .diagnostics
            .push(Diagnostic::error(format!("patch directory '{dir}' does not exist")).at(here));
        return;
    }
    if let Err(problem) = inside_workspace(root, &dir_path) {
        found
            .diagnostics
            .push(Diagnostic::error(format!("patch directory {problem}")).at(here));
        return;
    }
    let series_path = dir_path.join("series");
    let text = match std::fs::read(&series_path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => {
            found.diagnostics.push(
                Diagnostic::error(format!(
                    "patch directory '{dir}' has no readable 'series' file: {error}"
                ))
                .at(here)
                .with_help("list the patch files in order in a file called 'series', one a line"),
            );
            return;
        }
    };
    let shown = format!("{}/series", dir.trim_end_matches('/'));
    let mut listing = SeriesListing::default();
    let mut namer = PatchNamer::default();
    // Where each file was first listed: the same file twice would apply its changes twice.
    let mut first_listed: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
    for entry in parse_series_file(&text) {
        let at = Location::from_line(&shown, &text, entry.line);
        match entry.parsed {
            Err(problem) => found.diagnostics.push(Diagnostic::error(problem).at(at)),
            Ok((file, _)) if first_listed.contains_key(&file) => {
                found.diagnostics.push(
                    Diagnostic::error(format!(
                        "patch file '{file}' is listed twice (first at {shown}:{}), so its changes would be applied twice",
                        first_listed[&file]
                    ))
                    .at(at)
                    .with_label("listed again here")
                    .with_help("remove one of the two lines"),
                );
            }
            Ok((file, strip)) => {
                first_listed.insert(file.clone(), entry.line);
                let file_path = dir_path.join(&file);
                if let Err(problem) = inside_workspace(root, &file_path) {
                    found.diagnostics.push(
                        Diagnostic::error(format!("patch file {problem}"))
                            .at(at.clone())
                            .with_label("listed here"),
                    );
                } else if !file_path.is_file() {
                    // Still listed: its name is known, so feature ids can be checked against it.
                    found.diagnostics.push(
                        Diagnostic::error(format!("patch file '{file}' does not exist in '{dir}'"))
                            .at(at.clone())
                            .with_label("listed here"),
                    );
                }
                let natural = patch_file_stem(&file);
                let source = PatchSource::File {
                    path: format!("{}/{file}", dir.trim_end_matches('/')),
                    series_line: entry.line,
                    strip,
                };
                if let Err(error) = listing.push(&mut namer, natural, None, source) {
                    found.diagnostics.push(
                        Diagnostic::error(format!(
                            "patch file '{file}' gives a bad patch name: {error}"
                        ))
                        .at(at),
                    );
                }
            }
        }
    }
    found.listing = Some(listing);
}

/// Reads a patch file of the workspace at `root`, refusing one that is (or lies under) a
/// symlink leading outside the workspace.
pub fn read_patch_file(root: &Path, path: &str) -> Result<Vec<u8>, String> {
    let full = root.join(path);
    inside_workspace(root, &full)?;
    std::fs::read(&full).map_err(|error| format!("cannot read '{path}': {error}"))
}

/// Refuses `path` when, with every symlink followed, it is not inside the workspace.
pub fn inside_workspace(root: &Path, path: &Path) -> Result<(), String> {
    let (Ok(root), Ok(real)) = (root.canonicalize(), path.canonicalize()) else {
        // A missing file is reported where it is read.
        return Ok(());
    };
    if real.starts_with(&root) {
        Ok(())
    } else {
        Err(format!(
            "'{}' leads outside the workspace (to '{}')",
            path.strip_prefix(&root).unwrap_or(path).display(),
            real.display()
        ))
    }
}

/// A patch file's name without directories and without a `.patch` or `.diff` suffix.
pub fn patch_file_stem(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    base.strip_suffix(".patch")
        .or_else(|| base.strip_suffix(".diff"))
        .unwrap_or(base)
        .to_owned()
}

/// One meaningful line of a quilt `series` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesLine {
    /// 1-based line number.
    pub line: usize,
    /// The patch file and its strip level, or what is wrong with the line.
    pub parsed: Result<(String, u32), String>,
}

/// Parses a quilt `series` file: one patch a line, `#` starts a comment, blank lines are
/// skipped, and `-pN` (or `-p N`) after the file sets its strip level (default 1).
pub fn parse_series_file(text: &str) -> Vec<SeriesLine> {
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let mut words = content.split_whitespace();
        let Some(file) = words.next() else {
            continue;
        };
        let mut strip = 1;
        let mut problem = None;
        while let Some(word) = words.next() {
            let level = match word.strip_prefix("-p") {
                Some("") => words.next(),
                Some(level) => Some(level),
                None => None,
            };
            match level.map(str::parse::<u32>) {
                Some(Ok(level)) => strip = level,
                _ => {
                    problem = Some(format!(
                        "unexpected '{word}' after '{file}'; a series line is a patch file and an optional -pN"
                    ));
                    break;
                }
            }
        }
        let parsed = match problem {
            Some(problem) => Err(problem),
            None if file.split('/').any(|part| part == "..") || file.starts_with('/') => Err(
                format!("patch file '{file}' must stay inside the patch directory"),
            ),
            None => Ok((file.to_owned(), strip)),
        };
        lines.push(SeriesLine {
            line: index + 1,
            parsed,
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_file_lines_comments_and_strip_levels() {
        let text = "# carried\n\n0001-a.patch\n0002-b.patch -p0\n0003-c.diff -p 2 # note\n0004-d.patch --fuzz\n";
        let lines = parse_series_file(text);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].parsed, Ok(("0001-a.patch".to_owned(), 1)));
        assert_eq!(lines[1].parsed, Ok(("0002-b.patch".to_owned(), 0)));
        assert_eq!(lines[2].parsed, Ok(("0003-c.diff".to_owned(), 2)));
        assert_eq!(lines[3].line, 6);
        assert!(lines[3].parsed.is_err());
    }

    #[test]
    fn stems_drop_patch_and_diff_suffixes() {
        assert_eq!(patch_file_stem("0003-hostdev-vf.patch"), "0003-hostdev-vf");
        assert_eq!(patch_file_stem("debian/fix.diff"), "fix");
        assert_eq!(patch_file_stem("README"), "README");
    }
}
