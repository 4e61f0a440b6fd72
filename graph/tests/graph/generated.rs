//! Generated workspaces: random acyclic `consumes` and feature needs, as proptest strategies.

use std::collections::BTreeMap;

use carry_graph::FeatureName;
use carry_graph::PatchName;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use carry_graph::Workspace;
use proptest::prelude::*;

/// A generated workspace and the series of each project.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    pub(crate) workspace: Workspace,
    pub(crate) series: BTreeMap<ProjectName, Vec<PatchName>>,
}

pub(crate) fn project_name(i: usize) -> ProjectName {
    format!("p{i:03}").parse().expect("valid name")
}

fn patch(project: usize, index: usize) -> PatchRef {
    PatchRef::new(
        project_name(project),
        format!("x{index}").parse().expect("valid name"),
    )
}

/// Up to `max_projects` projects; each consumes some earlier ones (so `consumes` is acyclic);
/// features whose needs always point at lower-numbered projects (so needs are acyclic too).
pub(crate) fn workspace(max_projects: usize) -> impl Strategy<Value = Generated> {
    (1..=max_projects)
        .prop_flat_map(|n| {
            let edges = proptest::collection::vec(
                proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
                n,
            );
            let features = proptest::collection::vec(
                proptest::collection::vec((any::<prop::sample::Index>(), 0..3usize), 1..5),
                0..6,
            );
            (Just(n), edges, features)
        })
        .prop_map(|(n, edges, features)| {
            let mut workspace = Workspace::empty("generated");
            let mut series = BTreeMap::new();
            for (i, picks) in edges.iter().enumerate() {
                let mut consumes: Vec<ProjectName> = if i == 0 {
                    Vec::new()
                } else {
                    picks
                        .iter()
                        .map(|pick| project_name(pick.index(i)))
                        .collect()
                };
                consumes.sort();
                consumes.dedup();
                workspace.add_project(project_name(i), consumes);
                series.insert(
                    project_name(i),
                    (0..3)
                        .map(|k| format!("x{k}").parse().expect("valid name"))
                        .collect(),
                );
            }
            for (f, members) in features.iter().enumerate() {
                let mut chain: Vec<PatchRef> = members
                    .iter()
                    .map(|(pick, index)| patch(pick.index(n), *index))
                    .collect();
                chain.sort();
                chain.dedup();
                // Higher-numbered projects' patches need lower-numbered ones: no cycle.
                let mut needs: BTreeMap<PatchRef, Vec<PatchRef>> = BTreeMap::new();
                for pair in chain.windows(2) {
                    let (low, high) = (&pair[0], &pair[1]);
                    if low.project != high.project {
                        needs.entry(high.clone()).or_default().push(low.clone());
                    }
                }
                if let Some(first) = chain.first() {
                    needs.entry(first.clone()).or_default();
                }
                workspace.add_feature(
                    format!("f{f}").parse::<FeatureName>().expect("valid"),
                    needs,
                );
            }
            Generated { workspace, series }
        })
}
