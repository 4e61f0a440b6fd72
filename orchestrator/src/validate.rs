//! `carry validate`: the manifest, then every series that exists, then every feature patch id.

use std::collections::BTreeMap;

use carry_adapters::series;
use carry_adapters::series::SeriesListing;
use carry_graph::Diagnostic;
use carry_graph::PatchName;
use carry_graph::ProjectName;
use carry_graph::diagnostic::did_you_mean;
use carry_graph::workspace::Span;

use crate::workspace::LoadedWorkspace;

/// What validation found beyond the manifest itself.
#[derive(Debug, Default)]
pub struct Validation {
    /// Every problem and note, in project order then file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The series that could be read without errors.
    pub series: BTreeMap<ProjectName, SeriesListing>,
    /// Every series that could be listed, even with problems (such as a missing patch file).
    listed: BTreeMap<ProjectName, SeriesListing>,
}

impl Validation {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Patch names per project, for the graph, from the series that read cleanly.
    pub fn patch_names(&self) -> BTreeMap<ProjectName, Vec<PatchName>> {
        self.series
            .iter()
            .map(|(project, listing)| {
                (
                    project.clone(),
                    listing.patches.iter().map(|p| p.name.clone()).collect(),
                )
            })
            .collect()
    }
}

/// Reads every project's series and checks every feature patch id against them.
pub fn validate(workspace: &LoadedWorkspace) -> Validation {
    let manifest = &workspace.manifest;
    let mut validation = Validation {
        diagnostics: manifest.warnings.clone(),
        ..Validation::default()
    };
    let mut projects: Vec<_> = manifest.workspace.projects.values().collect();
    projects.sort_by_key(|p| p.position);
    for project in projects {
        let inspection = series::inspect(manifest, &workspace.root, project);
        let clean = !inspection.diagnostics.iter().any(Diagnostic::is_error);
        validation.diagnostics.extend(inspection.diagnostics);
        if let Some(listing) = inspection.listing {
            if clean {
                validation
                    .series
                    .insert(project.name.clone(), listing.clone());
            }
            validation.listed.insert(project.name.clone(), listing);
        }
    }

    for feature in manifest.workspace.features.values() {
        let mut mentions: Vec<(&carry_graph::PatchRef, Span)> = Vec::new();
        for (patch, needs) in &feature.needs {
            mentions.push((patch, feature.key_spans.get(patch).cloned().unwrap_or(0..0)));
            let spans = feature.need_spans.get(patch);
            for (at, needed) in needs.iter().enumerate() {
                let span = spans.and_then(|s| s.get(at)).cloned().unwrap_or(0..0);
                mentions.push((needed, span));
            }
        }
        mentions.sort_by_key(|(_, span)| span.start);
        for (patch, span) in mentions {
            let Some(listing) = validation.listed.get(&patch.project) else {
                continue;
            };
            let name = patch.name.as_str();
            let location = manifest.location(span);
            if listing.repeated.contains(name) {
                let same: Vec<&str> = listing
                    .patches
                    .iter()
                    .filter(|p| p.natural == name)
                    .map(|p| p.name.as_str())
                    .collect();
                validation.diagnostics.push(
                    Diagnostic::error(format!(
                        "patch id '{patch}' is ambiguous: {} patches of {} are named '{name}' ({})",
                        same.len(),
                        patch.project,
                        same.join(", ")
                    ))
                    .at(location)
                    .with_help("refer to one by its numbered name, or give it a `Carry-Patch: NAME` trailer"),
                );
            } else if !listing.contains(name) {
                let near = did_you_mean(name, listing.patches.iter().map(|p| p.name.as_str()));
                let message = match near {
                    Some(near) => format!(
                        "no patch '{name}' in {}'s series; did you mean '{}/{near}'?",
                        patch.project, patch.project
                    ),
                    None => format!("no patch '{name}' in {}'s series", patch.project),
                };
                let mut diagnostic = Diagnostic::error(message)
                    .at(location)
                    .with_label("unknown patch");
                if near.is_none() {
                    let names: Vec<&str> = listing
                        .patches
                        .iter()
                        .map(|p| p.name.as_str())
                        .take(8)
                        .collect();
                    diagnostic = diagnostic.with_help(format!("its patches: {}", names.join(", ")));
                }
                validation.diagnostics.push(diagnostic);
            }
        }
    }
    validation
}
