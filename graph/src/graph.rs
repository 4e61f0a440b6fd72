//! The workspace graph: projects, patches and features, and the questions asked of them.
//!
//! petgraph stays inside. Nodes are projects, patches and features; edges are `consumes`
//! (consumer → consumed), `carries` (project → its patches), series order (patch → next
//! patch), feature membership (feature → patch) and feature needs (patch → needed patch).
//! Feature needs also induce a project-level dependency, so a project whose patch needs
//! libvirt's patch is ordered after libvirt even when it does not consume it. Every query
//! returns ordered values, ties sorted by name, so output is deterministic.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::collections::VecDeque;

use petgraph::Direction as PetDirection;
use petgraph::graph::DiGraph;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde::Serialize;

use crate::cycles::find_cycles;
use crate::names::FeatureName;
use crate::names::PatchName;
use crate::names::PatchRef;
use crate::names::ProjectName;
use crate::workspace::Workspace;

/// Which way to walk a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Toward what a node depends on (libvirt → qemu).
    Upstream,
    /// Toward what depends on a node (qemu → libvirt).
    Downstream,
}

/// A project in a [`WorkspaceGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(NodeIndex);

/// A patch in a [`WorkspaceGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatchId(NodeIndex);

/// A feature in a [`WorkspaceGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureId(NodeIndex);

#[derive(Debug, Clone)]
enum Node {
    Project(ProjectName),
    Patch(PatchRef),
    Feature(FeatureName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// consumer → consumed.
    Consumes,
    /// project → project, because a patch of the first needs a patch of the second.
    NeedsThroughFeature,
    /// project → patch.
    Carries,
    /// patch → the next patch of the same series.
    SeriesNext,
    /// feature → patch.
    Member,
    /// patch → patch it needs.
    Needs,
}

/// A cycle that makes an order impossible, members in order, the first repeated at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "members", rename_all = "kebab-case")]
pub enum Cycle {
    /// Projects consume each other; each member is consumed by the next.
    Consumes(Vec<ProjectName>),
    /// Feature patches need each other; each member needs the next.
    Needs(Vec<PatchRef>),
    /// Consumes and feature needs together order projects in a circle; each member must come
    /// before the next.
    Order(Vec<ProjectName>),
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn join<T: std::fmt::Display>(members: &[T]) -> String {
            members
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" -> ")
        }
        match self {
            Self::Consumes(members) => write!(
                f,
                "projects consume each other in a cycle: {} (each is consumed by the next)",
                join(members)
            ),
            Self::Needs(members) => write!(
                f,
                "feature patches need each other in a cycle: {} (each needs the next)",
                join(members)
            ),
            Self::Order(members) => write!(
                f,
                "consumes and feature needs order projects in a cycle: {} (each must come before the next)",
                join(members)
            ),
        }
    }
}

/// Why a graph could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The workspace has cycles; every one is listed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Cycles(Vec<Cycle>),
}

/// What breaks if a project's upstream moves (SPEC: `impact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Impact {
    /// The project that moves.
    pub project: ProjectName,
    /// Every project that consumes it, directly or not.
    pub consumers: Vec<ProjectName>,
    /// Features with a patch in the project or in a consumer.
    pub features: Vec<FeatureName>,
    /// Every patch in the project, or that needs (through features, transitively) one that is.
    pub patches_at_risk: Vec<PatchRef>,
    /// Projects whose tests must run again, in a safe order.
    pub retest: Vec<ProjectName>,
}

/// The graph of a workspace, built once and queried many times.
#[derive(Debug, Clone)]
pub struct WorkspaceGraph {
    graph: DiGraph<Node, Edge>,
    projects: BTreeMap<ProjectName, NodeIndex>,
    patches: HashMap<PatchRef, NodeIndex>,
    features: BTreeMap<FeatureName, NodeIndex>,
    /// Stage of each project node; projects of one stage only depend on earlier stages.
    stage_of: HashMap<NodeIndex, usize>,
    stages: Vec<Vec<ProjectName>>,
}

impl WorkspaceGraph {
    /// Builds the graph of `workspace` from its manifest alone: the patches known are those the
    /// features name.
    pub fn from_manifest(workspace: &Workspace) -> Result<Self, GraphError> {
        Self::build(workspace, &BTreeMap::new())
    }

    /// Builds the graph of `workspace` with each project's series, in order. Patches that
    /// features name but no series holds are still added, outside any series order.
    pub fn build(
        workspace: &Workspace,
        series: &BTreeMap<ProjectName, Vec<PatchName>>,
    ) -> Result<Self, GraphError> {
        let patch_count: usize = series.values().map(Vec::len).sum();
        let mut graph = DiGraph::with_capacity(
            workspace.projects.len() + patch_count + workspace.features.len(),
            patch_count * 2,
        );
        let mut projects = BTreeMap::new();
        for name in workspace.projects.keys() {
            projects.insert(name.clone(), graph.add_node(Node::Project(name.clone())));
        }
        for (name, project) in &workspace.projects {
            let consumer = projects[name];
            for consumed in &project.consumes {
                if let Some(&target) = projects.get(consumed) {
                    graph.update_edge(consumer, target, Edge::Consumes);
                }
            }
        }

        let mut patches = HashMap::with_capacity(patch_count);
        for (project, names) in series {
            let Some(&owner) = projects.get(project) else {
                continue;
            };
            let mut previous = None;
            for name in names {
                let patch = PatchRef::new(project.clone(), name.clone());
                let node = graph.add_node(Node::Patch(patch.clone()));
                patches.insert(patch, node);
                graph.add_edge(owner, node, Edge::Carries);
                if let Some(previous) = previous {
                    graph.add_edge(previous, node, Edge::SeriesNext);
                }
                previous = Some(node);
            }
        }

        let mut features = BTreeMap::new();
        let mut project_needs = BTreeSet::new();
        for (name, feature) in &workspace.features {
            let feature_node = graph.add_node(Node::Feature(name.clone()));
            features.insert(name.clone(), feature_node);
            let mut patch_node = |graph: &mut DiGraph<Node, Edge>, patch: &PatchRef| {
                *patches.entry(patch.clone()).or_insert_with(|| {
                    let node = graph.add_node(Node::Patch(patch.clone()));
                    if let Some(&owner) = projects.get(&patch.project) {
                        graph.add_edge(owner, node, Edge::Carries);
                    }
                    node
                })
            };
            for patch in feature.patches() {
                let node = patch_node(&mut graph, patch);
                graph.add_edge(feature_node, node, Edge::Member);
            }
            for (patch, needs) in &feature.needs {
                let from = patch_node(&mut graph, patch);
                for needed in needs {
                    let to = patch_node(&mut graph, needed);
                    graph.update_edge(from, to, Edge::Needs);
                    if patch.project != needed.project {
                        project_needs.insert((patch.project.clone(), needed.project.clone()));
                    }
                }
            }
        }
        for (from, to) in project_needs {
            if let (Some(&from), Some(&to)) = (projects.get(&from), projects.get(&to))
                && graph.find_edge(from, to).is_none()
            {
                graph.add_edge(from, to, Edge::NeedsThroughFeature);
            }
        }

        let mut built = Self {
            graph,
            projects,
            patches,
            features,
            stage_of: HashMap::new(),
            stages: Vec::new(),
        };
        built.check_cycles(workspace)?;
        built.compute_stages();
        Ok(built)
    }

    fn check_cycles(&self, workspace: &Workspace) -> Result<(), GraphError> {
        let position = |node: NodeIndex| match &self.graph[node] {
            Node::Project(name) => (workspace.projects[name].position, name.to_string()),
            Node::Patch(patch) => (
                workspace
                    .projects
                    .get(&patch.project)
                    .map_or(usize::MAX, |p| p.position),
                patch.to_string(),
            ),
            Node::Feature(name) => (usize::MAX, name.to_string()),
        };
        let project_nodes: Vec<NodeIndex> = self.projects.values().copied().collect();
        let mut cycles = Vec::new();

        // Printed in the direction work flows: consumed first, each member consumed by the next.
        let consumes = find_cycles(&project_nodes, position, |node| {
            self.targets(node, Edge::Consumes, PetDirection::Incoming)
        });
        for members in &consumes {
            cycles.push(Cycle::Consumes(self.project_names(members)));
        }

        let patch_nodes: Vec<NodeIndex> = {
            let mut nodes: Vec<NodeIndex> = self.patches.values().copied().collect();
            nodes.sort_unstable();
            nodes
        };
        let needs = find_cycles(&patch_nodes, position, |node| {
            self.targets(node, Edge::Needs, PetDirection::Outgoing)
        });
        for members in &needs {
            cycles.push(Cycle::Needs(
                members
                    .iter()
                    .filter_map(|&node| match &self.graph[node] {
                        Node::Patch(patch) => Some(patch.clone()),
                        _ => None,
                    })
                    .collect(),
            ));
        }

        // Combined cycles are only worth reporting when neither kind alone explains them.
        if consumes.is_empty() && needs.is_empty() {
            let order = find_cycles(&project_nodes, position, |node| {
                let mut next = self.targets(node, Edge::Consumes, PetDirection::Incoming);
                next.extend(self.targets(node, Edge::NeedsThroughFeature, PetDirection::Incoming));
                next
            });
            for members in &order {
                cycles.push(Cycle::Order(self.project_names(members)));
            }
        }
        if cycles.is_empty() {
            Ok(())
        } else {
            Err(GraphError::Cycles(cycles))
        }
    }

    fn targets(&self, node: NodeIndex, kind: Edge, direction: PetDirection) -> Vec<NodeIndex> {
        self.graph
            .edges_directed(node, direction)
            .filter(|edge| *edge.weight() == kind)
            .map(|edge| match direction {
                PetDirection::Outgoing => edge.target(),
                PetDirection::Incoming => edge.source(),
            })
            .collect()
    }

    fn project_names(&self, nodes: &[NodeIndex]) -> Vec<ProjectName> {
        nodes
            .iter()
            .map(|&node| self.project_name(node).clone())
            .collect()
    }

    fn project_name(&self, node: NodeIndex) -> &ProjectName {
        match &self.graph[node] {
            Node::Project(name) => name,
            other => unreachable!("project index points at {other:?}"),
        }
    }

    fn patch_ref(&self, node: NodeIndex) -> &PatchRef {
        match &self.graph[node] {
            Node::Patch(patch) => patch,
            other => unreachable!("patch index points at {other:?}"),
        }
    }

    /// Projects this one depends on (`Upstream`) or that depend on it (`Downstream`), directly:
    /// through `consumes` or feature needs.
    fn project_neighbors(&self, node: NodeIndex, direction: Direction) -> Vec<NodeIndex> {
        let pet = match direction {
            Direction::Upstream => PetDirection::Outgoing,
            Direction::Downstream => PetDirection::Incoming,
        };
        let mut next = self.targets(node, Edge::Consumes, pet);
        next.extend(self.targets(node, Edge::NeedsThroughFeature, pet));
        next
    }

    /// Longest-path layering: a project's stage is one more than the latest stage it depends on.
    fn compute_stages(&mut self) {
        let mut remaining: HashMap<NodeIndex, usize> = self
            .projects
            .values()
            .map(|&node| {
                (
                    node,
                    self.project_neighbors(node, Direction::Upstream).len(),
                )
            })
            .collect();
        let mut ready: VecDeque<NodeIndex> = self
            .projects
            .values()
            .copied()
            .filter(|node| remaining[node] == 0)
            .collect();
        let mut stage_of = HashMap::with_capacity(self.projects.len());
        while let Some(node) = ready.pop_front() {
            let stage = self
                .project_neighbors(node, Direction::Upstream)
                .iter()
                .map(|dep| stage_of[dep] + 1)
                .max()
                .unwrap_or(0);
            stage_of.insert(node, stage);
            for consumer in self.project_neighbors(node, Direction::Downstream) {
                // `remaining` was filled for every project node before this loop.
                let left = remaining
                    .get_mut(&consumer)
                    .expect("every project has a remaining count");
                *left -= 1;
                if *left == 0 {
                    ready.push_back(consumer);
                }
            }
        }
        let depth = stage_of.values().max().map_or(0, |deepest| deepest + 1);
        let mut stages = vec![Vec::new(); depth];
        // `projects` is a BTreeMap, so each stage fills in name order.
        for (name, node) in &self.projects {
            stages[stage_of[node]].push(name.clone());
        }
        self.stage_of = stage_of;
        self.stages = stages;
    }

    /// Every project, in name order.
    pub fn projects(&self) -> impl Iterator<Item = &ProjectName> {
        self.projects.keys()
    }

    /// Every feature, in name order.
    pub fn features(&self) -> impl Iterator<Item = &FeatureName> {
        self.features.keys()
    }

    /// The project called `name`.
    pub fn project(&self, name: &str) -> Option<ProjectId> {
        self.projects.get(name).copied().map(ProjectId)
    }

    /// The patch `patch`.
    pub fn patch(&self, patch: &PatchRef) -> Option<PatchId> {
        self.patches.get(patch).copied().map(PatchId)
    }

    /// The feature called `name`.
    pub fn feature(&self, name: &str) -> Option<FeatureId> {
        self.features.get(name).copied().map(FeatureId)
    }

    /// The name of `project`.
    pub fn project_name_of(&self, project: ProjectId) -> &ProjectName {
        self.project_name(project.0)
    }

    /// The reference of `patch`.
    pub fn patch_ref_of(&self, patch: PatchId) -> &PatchRef {
        self.patch_ref(patch.0)
    }

    /// The safe order: stages of projects, each depending only on earlier stages.
    pub fn stages(&self) -> &[Vec<ProjectName>] {
        &self.stages
    }

    /// The stage index of `project`.
    pub fn stage_of(&self, project: ProjectId) -> usize {
        self.stage_of[&project.0]
    }

    /// The stages restricted to `moved` and everything that transitively depends on them.
    pub fn stages_for_moved(&self, moved: &[ProjectId]) -> Vec<Vec<ProjectName>> {
        let keep = self.closure(moved.iter().map(|p| p.0), Direction::Downstream);
        self.stages
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .filter(|name| keep.contains(&self.projects[*name]))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .filter(|stage| !stage.is_empty())
            .collect()
    }

    /// `start` and every project reachable from it through consumes and feature needs.
    fn closure(
        &self,
        start: impl IntoIterator<Item = NodeIndex>,
        direction: Direction,
    ) -> BTreeSet<NodeIndex> {
        let mut seen: BTreeSet<NodeIndex> = BTreeSet::new();
        let mut queue: VecDeque<NodeIndex> = start.into_iter().collect();
        while let Some(node) = queue.pop_front() {
            if seen.insert(node) {
                queue.extend(self.project_neighbors(node, direction));
            }
        }
        seen
    }

    /// Projects that depend on `project` (`Downstream`) or that it depends on (`Upstream`),
    /// transitively, through consumes and feature needs; `project` itself excluded.
    pub fn dependents(&self, project: ProjectId, direction: Direction) -> Vec<ProjectName> {
        let mut found = self.closure([project.0], direction);
        found.remove(&project.0);
        self.in_stage_order(found)
    }

    /// Projects that consume `project`, directly or not (consumes edges only), in name order.
    pub fn consumers(&self, project: ProjectId) -> Vec<ProjectName> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([project.0]);
        while let Some(node) = queue.pop_front() {
            for consumer in self.targets(node, Edge::Consumes, PetDirection::Incoming) {
                if seen.insert(consumer) {
                    queue.push_back(consumer);
                }
            }
        }
        seen.remove(&project.0);
        let mut names = self.project_names(&seen.into_iter().collect::<Vec<_>>());
        names.sort();
        names
    }

    /// Projects that `project` consumes, directly or not (consumes edges only), in name order.
    pub fn consumed(&self, project: ProjectId) -> Vec<ProjectName> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([project.0]);
        while let Some(node) = queue.pop_front() {
            for consumed in self.targets(node, Edge::Consumes, PetDirection::Outgoing) {
                if seen.insert(consumed) {
                    queue.push_back(consumed);
                }
            }
        }
        seen.remove(&project.0);
        let mut names = self.project_names(&seen.into_iter().collect::<Vec<_>>());
        names.sort();
        names
    }

    /// Projects that `project` consumes directly, in name order.
    pub fn consumes(&self, project: ProjectId) -> Vec<ProjectName> {
        let mut names =
            self.project_names(&self.targets(project.0, Edge::Consumes, PetDirection::Outgoing));
        names.sort();
        names
    }

    fn in_stage_order(&self, nodes: impl IntoIterator<Item = NodeIndex>) -> Vec<ProjectName> {
        let mut keyed: Vec<(usize, &ProjectName)> = nodes
            .into_iter()
            .map(|node| (self.stage_of[&node], self.project_name(node)))
            .collect();
        keyed.sort();
        keyed.into_iter().map(|(_, name)| name.clone()).collect()
    }

    /// The patches `project` carries, in series order (feature-only patches last, by name).
    pub fn patches_of(&self, project: ProjectId) -> Vec<PatchRef> {
        let mut carried: Vec<NodeIndex> =
            self.targets(project.0, Edge::Carries, PetDirection::Outgoing);
        // Node indices follow insertion, which is series order, then feature-only patches.
        carried.sort_unstable();
        carried
            .into_iter()
            .map(|node| self.patch_ref(node).clone())
            .collect()
    }

    /// The patches `patch` needs (`Upstream`) or that need it (`Downstream`), transitively,
    /// through feature needs, in name order.
    pub fn needs_closure(&self, patch: PatchId, direction: Direction) -> Vec<PatchRef> {
        let found = self.needs_reach([patch.0], direction);
        let mut refs: Vec<PatchRef> = found
            .into_iter()
            .filter(|&node| node != patch.0)
            .map(|node| self.patch_ref(node).clone())
            .collect();
        refs.sort();
        refs
    }

    fn needs_reach(
        &self,
        start: impl IntoIterator<Item = NodeIndex>,
        direction: Direction,
    ) -> BTreeSet<NodeIndex> {
        let pet = match direction {
            Direction::Upstream => PetDirection::Outgoing,
            Direction::Downstream => PetDirection::Incoming,
        };
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<NodeIndex> = start.into_iter().collect();
        while let Some(node) = queue.pop_front() {
            if seen.insert(node) {
                queue.extend(self.targets(node, Edge::Needs, pet));
            }
        }
        seen
    }

    /// The patches `patch` needs directly, in name order.
    pub fn needs_of(&self, patch: PatchId) -> Vec<PatchRef> {
        let mut refs: Vec<PatchRef> = self
            .targets(patch.0, Edge::Needs, PetDirection::Outgoing)
            .into_iter()
            .map(|node| self.patch_ref(node).clone())
            .collect();
        refs.sort();
        refs
    }

    /// The features `patch` belongs to, in name order.
    pub fn features_of(&self, patch: PatchId) -> Vec<FeatureName> {
        let mut names: Vec<FeatureName> = self
            .targets(patch.0, Edge::Member, PetDirection::Incoming)
            .into_iter()
            .filter_map(|node| match &self.graph[node] {
                Node::Feature(name) => Some(name.clone()),
                _ => None,
            })
            .collect();
        names.sort();
        names
    }

    /// The patches of `feature`, in name order.
    pub fn feature_patches(&self, feature: FeatureId) -> Vec<PatchRef> {
        let mut refs: Vec<PatchRef> = self
            .targets(feature.0, Edge::Member, PetDirection::Outgoing)
            .into_iter()
            .map(|node| self.patch_ref(node).clone())
            .collect();
        refs.sort();
        refs
    }

    /// What breaks if `project`'s upstream moves.
    pub fn impact(&self, project: ProjectId) -> Impact {
        let consumers = self.consumers(project);
        let own_patches: Vec<NodeIndex> =
            self.targets(project.0, Edge::Carries, PetDirection::Outgoing);
        let at_risk = self.needs_reach(own_patches, Direction::Downstream);

        let mut feature_nodes = BTreeSet::new();
        let touched =
            std::iter::once(project.0).chain(consumers.iter().map(|name| self.projects[name]));
        for owner in touched {
            for patch in self.targets(owner, Edge::Carries, PetDirection::Outgoing) {
                feature_nodes.extend(self.targets(patch, Edge::Member, PetDirection::Incoming));
            }
        }
        let mut features: Vec<FeatureName> = feature_nodes
            .into_iter()
            .filter_map(|node| match &self.graph[node] {
                Node::Feature(name) => Some(name.clone()),
                _ => None,
            })
            .collect();
        features.sort();

        let mut patches_at_risk: Vec<PatchRef> = at_risk
            .iter()
            .map(|&node| self.patch_ref(node).clone())
            .collect();
        patches_at_risk.sort();

        let retest = self.in_stage_order(self.closure([project.0], Direction::Downstream));
        Impact {
            project: self.project_name(project.0).clone(),
            consumers,
            features,
            patches_at_risk,
            retest,
        }
    }

    /// Which patches are blocked, given patches that failed (conflicted or were blocked in
    /// their own series): every patch that needs one of them through a feature, transitively,
    /// with the nearest failed patches on its way (walking needs, stopping at each failed
    /// patch). Failed patches themselves are left out.
    pub fn blocked_by_needs(
        &self,
        failed: &BTreeSet<PatchRef>,
    ) -> BTreeMap<PatchRef, BTreeSet<PatchRef>> {
        let failed_nodes: Vec<NodeIndex> = failed
            .iter()
            .filter_map(|patch| self.patches.get(patch).copied())
            .collect();
        let mut blocked = BTreeMap::new();
        for dependent in self.needs_reach(failed_nodes, Direction::Downstream) {
            let patch = self.patch_ref(dependent);
            if failed.contains(patch) {
                continue;
            }
            let mut nearest = BTreeSet::new();
            let mut seen = BTreeSet::from([dependent]);
            let mut queue = VecDeque::from([dependent]);
            while let Some(node) = queue.pop_front() {
                for needed in self.targets(node, Edge::Needs, PetDirection::Outgoing) {
                    if !seen.insert(needed) {
                        continue;
                    }
                    let needed_ref = self.patch_ref(needed);
                    if failed.contains(needed_ref) {
                        nearest.insert(needed_ref.clone());
                    } else {
                        queue.push_back(needed);
                    }
                }
            }
            if !nearest.is_empty() {
                blocked.insert(patch.clone(), nearest);
            }
        }
        blocked
    }
}
