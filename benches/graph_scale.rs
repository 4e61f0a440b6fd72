//! The workspace graph at platform scale: 2,000 projects, 100,000 patches (50 a project) and
//! 5,000 features, built in memory; graph construction and the `order` and `impact` queries.
//!
//! `cargo bench --bench graph_scale`. Targets (issue 3): construction under 300 ms, each
//! query under 20 ms on a 2-core machine.

use std::collections::BTreeMap;

use carry_graph::FeatureName;
use carry_graph::PatchName;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use carry_graph::Workspace;
use carry_graph::WorkspaceGraph;

const PROJECTS: usize = 2_000;
const PATCHES_PER_PROJECT: usize = 50;
const FEATURES: usize = 5_000;

fn main() {
    divan::main();
}

/// A small deterministic generator, so every run measures the same workspace.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from((self.0 >> 33) % (n as u64)).expect("below n fits usize")
    }
}

fn project(i: usize) -> ProjectName {
    format!("project-{i:04}").parse().expect("valid name")
}

fn patch(project_index: usize, k: usize) -> PatchRef {
    PatchRef::new(
        project(project_index),
        format!("patch-{k:02}").parse().expect("valid name"),
    )
}

struct Platform {
    workspace: Workspace,
    series: BTreeMap<ProjectName, Vec<PatchName>>,
}

/// Layers of projects like a real platform: each consumes 1 to 4 earlier ones (kernel at the
/// bottom, services on top); features chain 3 to 6 patches from lower to higher projects.
fn platform() -> Platform {
    let mut rng = Lcg(0x00c0_ffee);
    let mut workspace = Workspace::empty("scale");
    let mut series = BTreeMap::new();
    for i in 0..PROJECTS {
        let mut consumes = Vec::new();
        if i > 0 {
            for _ in 0..=rng.below(4) {
                consumes.push(project(rng.below(i)));
            }
        }
        consumes.sort();
        consumes.dedup();
        workspace.add_project(project(i), consumes);
        series.insert(
            project(i),
            (0..PATCHES_PER_PROJECT)
                .map(|k| format!("patch-{k:02}").parse().expect("valid name"))
                .collect(),
        );
    }
    for f in 0..FEATURES {
        let mut members: Vec<usize> = (0..3 + rng.below(4)).map(|_| rng.below(PROJECTS)).collect();
        members.sort_unstable();
        members.dedup();
        let mut needs: BTreeMap<PatchRef, Vec<PatchRef>> = BTreeMap::new();
        let patches: Vec<PatchRef> = members
            .iter()
            .map(|&p| patch(p, rng.below(PATCHES_PER_PROJECT)))
            .collect();
        needs.insert(patches[0].clone(), Vec::new());
        for pair in patches.windows(2) {
            needs.insert(pair[1].clone(), vec![pair[0].clone()]);
        }
        workspace.add_feature(
            format!("feature-{f:04}")
                .parse::<FeatureName>()
                .expect("valid"),
            needs,
        );
    }
    Platform { workspace, series }
}

fn built() -> (WorkspaceGraph, Vec<carry_graph::ProjectId>) {
    let platform = platform();
    let graph = WorkspaceGraph::build(&platform.workspace, &platform.series).expect("acyclic");
    let ids = (0..PROJECTS)
        .step_by(97)
        .map(|i| graph.project(project(i).as_str()).expect("exists"))
        .collect();
    (graph, ids)
}

#[divan::bench(sample_count = 20)]
fn construction(bencher: divan::Bencher) {
    let platform = platform();
    bencher
        .bench(|| WorkspaceGraph::build(&platform.workspace, &platform.series).expect("acyclic"));
}

#[divan::bench(sample_count = 50)]
fn order_all(bencher: divan::Bencher) {
    let (graph, _) = built();
    bencher.bench(|| graph.stages().to_vec());
}

/// `order --moved` for a project low in the stack (many consumers) and one high up.
#[divan::bench(sample_count = 50, args = [0, 1_000])]
fn order_moved(bencher: divan::Bencher, index: usize) {
    let (graph, _) = built();
    let id = graph.project(project(index).as_str()).expect("exists");
    bencher.bench(|| graph.stages_for_moved(&[id]));
}

#[divan::bench(sample_count = 50, args = [0, 1_000])]
fn impact(bencher: divan::Bencher, index: usize) {
    let (graph, _) = built();
    let id = graph.project(project(index).as_str()).expect("exists");
    bencher.bench(|| graph.impact(id));
}

/// Impact across a spread of projects, to show the typical case, not just the extremes.
#[divan::bench(sample_count = 10)]
fn impact_spread(bencher: divan::Bencher) {
    let (graph, ids) = built();
    bencher.bench(|| {
        ids.iter()
            .map(|&id| graph.impact(id).retest.len())
            .sum::<usize>()
    });
}
