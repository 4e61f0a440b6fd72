//! Properties of `order` and `impact` on generated workspaces, checked against naive
//! reachability computed independently here.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use carry_graph::Cycle;
use carry_graph::GraphError;
use carry_graph::ProjectName;
use carry_graph::Workspace;
use carry_graph::WorkspaceGraph;
use proptest::prelude::*;

use crate::generated::Generated;
use crate::generated::workspace;

/// Direct dependencies: what a project consumes, plus projects whose patches its patches need.
fn dependencies(workspace: &Workspace) -> BTreeMap<ProjectName, BTreeSet<ProjectName>> {
    let mut deps: BTreeMap<ProjectName, BTreeSet<ProjectName>> = workspace
        .projects
        .iter()
        .map(|(name, project)| (name.clone(), project.consumes.iter().cloned().collect()))
        .collect();
    for feature in workspace.features.values() {
        for (patch, needs) in &feature.needs {
            for needed in needs {
                if needed.project != patch.project {
                    deps.entry(patch.project.clone())
                        .or_default()
                        .insert(needed.project.clone());
                }
            }
        }
    }
    deps
}

/// Everything that depends on `start`, transitively, `start` included.
fn naive_dependents(
    deps: &BTreeMap<ProjectName, BTreeSet<ProjectName>>,
    start: &[ProjectName],
) -> BTreeSet<ProjectName> {
    let mut found: BTreeSet<ProjectName> = start.iter().cloned().collect();
    loop {
        let before = found.len();
        for (project, needs) in deps {
            if needs.iter().any(|n| found.contains(n)) {
                found.insert(project.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

fn stage_index(stages: &[Vec<ProjectName>]) -> BTreeMap<ProjectName, usize> {
    stages
        .iter()
        .enumerate()
        .flat_map(|(i, stage)| stage.iter().map(move |name| (name.clone(), i)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_dependency_goes_from_an_earlier_stage_to_a_later_one(generated in workspace(40)) {
        let Generated { workspace, series } = generated;
        let graph = WorkspaceGraph::build(&workspace, &series).expect("acyclic by construction");
        let stages = graph.stages();
        let at = stage_index(stages);
        // Every project appears exactly once, each stage sorted by name, none empty.
        prop_assert_eq!(at.len(), workspace.projects.len());
        prop_assert_eq!(stages.iter().map(Vec::len).sum::<usize>(), workspace.projects.len());
        for stage in stages {
            prop_assert!(!stage.is_empty());
            prop_assert!(stage.windows(2).all(|w| w[0] < w[1]));
        }
        for (project, needs) in dependencies(&workspace) {
            for needed in needs {
                prop_assert!(at[&needed] < at[&project], "{} must come before {}", needed, project);
            }
        }
        // Stages are as early as possible: a project past stage 0 depends on the stage before.
        let deps = dependencies(&workspace);
        for (project, &stage) in &at {
            if stage > 0 {
                prop_assert!(deps[project].iter().any(|d| at[d] == stage - 1));
            }
        }
    }

    #[test]
    fn moved_keeps_exactly_the_moved_and_their_transitive_consumers(
        generated in workspace(40),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
    ) {
        let Generated { workspace, series } = generated;
        let graph = WorkspaceGraph::build(&workspace, &series).expect("acyclic by construction");
        let names: Vec<ProjectName> = workspace.projects.keys().cloned().collect();
        let moved: Vec<ProjectName> = picks.iter().map(|p| names[p.index(names.len())].clone()).collect();
        let ids: Vec<_> = moved.iter().map(|m| graph.project(m.as_str()).expect("exists")).collect();
        let stages = graph.stages_for_moved(&ids);
        let kept: BTreeSet<ProjectName> = stages.iter().flatten().cloned().collect();
        prop_assert_eq!(&kept, &naive_dependents(&dependencies(&workspace), &moved));
        // Still a valid order among what is kept.
        let at = stage_index(&stages);
        for (project, needs) in dependencies(&workspace) {
            if kept.contains(&project) {
                for needed in needs.iter().filter(|n| kept.contains(*n)) {
                    prop_assert!(at[needed] < at[&project]);
                }
            }
        }
    }

    #[test]
    fn impact_retests_the_project_and_its_dependents_in_order(
        generated in workspace(30),
        pick in any::<prop::sample::Index>(),
    ) {
        let Generated { workspace, series } = generated;
        let graph = WorkspaceGraph::build(&workspace, &series).expect("acyclic by construction");
        let names: Vec<ProjectName> = workspace.projects.keys().cloned().collect();
        let moved = names[pick.index(names.len())].clone();
        let impact = graph.impact(graph.project(moved.as_str()).expect("exists"));
        let deps = dependencies(&workspace);
        let expected = naive_dependents(&deps, std::slice::from_ref(&moved));
        let retest: BTreeSet<ProjectName> = impact.retest.iter().cloned().collect();
        prop_assert_eq!(retest, expected);
        prop_assert_eq!(&impact.retest[0], &moved);
        let at = stage_index(graph.stages());
        prop_assert!(impact.retest.windows(2).all(|w| (at[&w[0]], &w[0]) < (at[&w[1]], &w[1])));
        // Consumers: consumes edges only.
        let consumes_only: BTreeMap<ProjectName, BTreeSet<ProjectName>> = workspace
            .projects
            .iter()
            .map(|(n, p)| (n.clone(), p.consumes.iter().cloned().collect()))
            .collect();
        let mut consumers = naive_dependents(&consumes_only, std::slice::from_ref(&moved));
        consumers.remove(&moved);
        prop_assert_eq!(impact.consumers.iter().cloned().collect::<BTreeSet<_>>(), consumers);
        // Every at-risk patch is the project's own or needs one of them, transitively.
        for patch in &impact.patches_at_risk {
            let id = graph.patch(patch).expect("patch exists");
            let needs = graph.needs_closure(id, carry_graph::Direction::Upstream);
            prop_assert!(patch.project == moved || needs.iter().any(|n| n.project == moved));
        }
    }

    #[test]
    fn a_back_edge_makes_a_cycle_that_names_real_members(
        generated in workspace(20),
        pick in any::<prop::sample::Index>(),
    ) {
        let Generated { mut workspace, series } = generated;
        // Make the first project consume one that (transitively) consumes it, if any.
        let names: Vec<ProjectName> = workspace.projects.keys().cloned().collect();
        let first = names[0].clone();
        let consumes_only: BTreeMap<ProjectName, BTreeSet<ProjectName>> = workspace
            .projects
            .iter()
            .map(|(n, p)| (n.clone(), p.consumes.iter().cloned().collect()))
            .collect();
        let mut downstream: Vec<ProjectName> = naive_dependents(&consumes_only, std::slice::from_ref(&first))
            .into_iter()
            .filter(|n| *n != first)
            .collect();
        if downstream.is_empty() {
            return Ok(());
        }
        let target = downstream.swap_remove(pick.index(downstream.len()));
        workspace.projects.get_mut(&first).expect("exists").consumes.push(target.clone());
        match WorkspaceGraph::build(&workspace, &series) {
            Err(GraphError::Cycles(cycles)) => {
                let Some(Cycle::Consumes(members)) = cycles.first() else {
                    return Err(TestCaseError::fail(format!("expected a consumes cycle, got {cycles:?}")));
                };
                prop_assert_eq!(members.first(), members.last());
                prop_assert!(members.contains(&first) && members.contains(&target));
                // Each member is consumed by the next.
                for pair in members.windows(2) {
                    prop_assert!(workspace.projects[&pair[1]].consumes.contains(&pair[0]));
                }
            }
            other => return Err(TestCaseError::fail(format!("expected cycles, got {other:?}"))),
        }
    }
}
