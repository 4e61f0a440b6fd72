//! Finding cycles and naming every member, in order.
//!
//! Strongly connected components (petgraph's Tarjan) say which nodes are caught in a cycle; a
//! breadth-first walk inside each component then picks one concrete cycle to show, starting at
//! the member the user wrote first so the message reads like the manifest.

use std::collections::HashMap;
use std::collections::VecDeque;

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;
use petgraph::graph::NodeIndex;

/// One cycle per strongly connected component among `nodes`, each starting and ending at its
/// first member by `key` (the shortest way round), components ordered by that member's key.
pub(crate) fn find_cycles<K: Ord>(
    nodes: &[NodeIndex],
    key: impl Fn(NodeIndex) -> K,
    successors: impl Fn(NodeIndex) -> Vec<NodeIndex>,
) -> Vec<Vec<NodeIndex>> {
    let mut local = DiGraph::<NodeIndex, ()>::with_capacity(nodes.len(), nodes.len());
    let index: HashMap<NodeIndex, NodeIndex> = nodes
        .iter()
        .map(|&node| (node, local.add_node(node)))
        .collect();
    for &node in nodes {
        for next in successors(node) {
            if let Some(&to) = index.get(&next) {
                local.update_edge(index[&node], to, ());
            }
        }
    }

    let mut cycles: Vec<(K, Vec<NodeIndex>)> = Vec::new();
    for component in tarjan_scc(&local) {
        let looped = component.len() > 1
            || component
                .first()
                .is_some_and(|&only| local.find_edge(only, only).is_some());
        if !looped {
            continue;
        }
        let Some(&start) = component.iter().min_by_key(|&&node| key(local[node])) else {
            continue;
        };
        let members: std::collections::HashSet<NodeIndex> = component.iter().copied().collect();
        let path = shortest_cycle(&local, start, &members, &key);
        cycles.push((
            key(local[start]),
            path.into_iter().map(|n| local[n]).collect(),
        ));
    }
    cycles.sort_by(|a, b| a.0.cmp(&b.0));
    cycles.into_iter().map(|(_, cycle)| cycle).collect()
}

fn shortest_cycle<K: Ord>(
    graph: &DiGraph<NodeIndex, ()>,
    start: NodeIndex,
    members: &std::collections::HashSet<NodeIndex>,
    key: &impl Fn(NodeIndex) -> K,
) -> Vec<NodeIndex> {
    let sorted_successors = |node: NodeIndex| {
        let mut next: Vec<NodeIndex> = graph
            .neighbors(node)
            .filter(|n| members.contains(n))
            .collect();
        next.sort_by_key(|&n| key(graph[n]));
        next
    };
    let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in sorted_successors(node) {
            if next == start {
                let mut path = vec![node];
                let mut at = node;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = parent.entry(next) {
                slot.insert(node);
                queue.push_back(next);
            }
        }
    }
    // A component always holds a cycle through each member; this is unreachable in practice.
    vec![start, start]
}
