//! Each feature's state after a run: blocked by the conflicts at the root of its patches'
//! failures, at risk when a patch came with notes, else ok.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use carry_adapters::rebase::Outcome;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;

use crate::report::FeatureReport;
use crate::report::FeatureStatus;
use crate::report::PatchReport;
use crate::report::ProjectReport;
use crate::report::ProjectStatus;

pub(crate) fn feature_reports(
    graph: &WorkspaceGraph,
    projects: &[ProjectReport],
) -> Vec<FeatureReport> {
    let outcomes: BTreeMap<String, &PatchReport> = projects
        .iter()
        .flat_map(|p| p.patches.iter().map(|patch| (patch.id.to_string(), patch)))
        .collect();
    let errored: BTreeSet<&ProjectName> = projects
        .iter()
        .filter(|p| p.status == ProjectStatus::Error)
        .map(|p| &p.name)
        .collect();
    graph
        .features()
        .map(|name| {
            // `features()` lists the graph's own features.
            let id = graph.feature(name.as_str()).expect("listed features exist");
            let mut blocked_by = BTreeSet::new();
            let mut at_risk = false;
            for patch in graph.feature_patches(id) {
                let key = patch.to_string();
                root_causes(&key, &outcomes, &mut BTreeSet::new(), &mut blocked_by);
                if errored.contains(&patch.project) {
                    blocked_by.insert(format!("{} (project error)", patch.project));
                }
                // A note, or a patch a human dropped from it: the feature needs a look.
                if outcomes.get(key.as_str()).is_some_and(|p| {
                    !p.notes.is_empty()
                        || matches!(p.outcome, Outcome::Dropped { .. })
                        || p.review == Some(crate::report::ReviewState::Required)
                }) {
                    at_risk = true;
                }
            }
            let status = if !blocked_by.is_empty() {
                FeatureStatus::Blocked
            } else if at_risk {
                FeatureStatus::AtRisk
            } else {
                FeatureStatus::Ok
            };
            FeatureReport {
                name: name.clone(),
                status,
                blocked_by: blocked_by.into_iter().collect(),
            }
        })
        .collect()
}

/// The conflicts at the root of `patch`'s failure: itself if it conflicted, else the roots of
/// whatever blocks it.
fn root_causes(
    patch: &str,
    outcomes: &BTreeMap<String, &PatchReport>,
    seen: &mut BTreeSet<String>,
    roots: &mut BTreeSet<String>,
) {
    if !seen.insert(patch.to_owned()) {
        return;
    }
    match outcomes.get(patch).map(|p| &p.outcome) {
        Some(Outcome::Conflict { .. } | Outcome::Error { .. }) => {
            roots.insert(patch.to_owned());
        }
        Some(Outcome::Blocked { blocked_by }) => {
            for cause in blocked_by {
                root_causes(cause, outcomes, seen, roots);
            }
        }
        _ => {}
    }
}
