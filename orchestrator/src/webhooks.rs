//! Upstream push notifications, read: GitHub and GitLab push events and Gerrit
//! `ref-updated` events name a repository (several URL forms) and a ref; the projects
//! following that upstream ref are the ones to redo. Pure: the service verifies signatures
//! and starts runs.

use carry_graph::ProjectName;
use carry_graph::workspace::UpstreamSource;
use carry_graph::workspace::Workspace;
use serde_json::Value;

/// Where a push came from and what it moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The repository's URLs as the event gives them (or a Gerrit project name).
    pub urls: Vec<String>,
    /// The ref it moved (`refs/heads/main`).
    pub reference: String,
}

/// Why a payload is not a push this service understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// A field the event needs is missing or not a string.
    #[error("{0}")]
    Missing(&'static str),
    /// No repository URL anywhere a provider puts one.
    #[error("no repository URL in the payload")]
    NoUrl,
}

/// Reads a push event's body.
pub fn parse_push(body: &[u8]) -> Result<Push, PushError> {
    let payload: Value =
        serde_json::from_slice(body).map_err(|e| PushError::NotJson(e.to_string()))?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    if payload["type"] == "ref-updated" {
        let update = &payload["refUpdate"];
        let project = text(&update["project"])
            .ok_or(PushError::Missing("ref-updated without refUpdate.project"))?;
        let reference = text(&update["refName"])
            .ok_or(PushError::Missing("ref-updated without refUpdate.refName"))?;
        return Ok(Push {
            urls: vec![project],
            reference,
        });
    }
    let reference =
        text(&payload["ref"]).ok_or(PushError::Missing("a push event has a \"ref\""))?;
    let urls: Vec<String> = [
        "/repository/clone_url",
        "/repository/ssh_url",
        "/repository/html_url",
        "/repository/git_http_url",
        "/repository/git_ssh_url",
        "/project/git_http_url",
        "/project/git_ssh_url",
        "/project/web_url",
    ]
    .iter()
    .filter_map(|pointer| payload.pointer(pointer).and_then(Value::as_str))
    .map(str::to_owned)
    .collect();
    if urls.is_empty() {
        return Err(PushError::NoUrl);
    }
    Ok(Push { urls, reference })
}

/// The projects of `workspace` following the upstream ref `push` moved.
pub fn followers(push: &Push, workspace: &Workspace) -> Vec<ProjectName> {
    let reference = push
        .reference
        .trim_start_matches("refs/heads/")
        .trim_start_matches("refs/tags/");
    workspace
        .projects
        .values()
        .filter(|p| {
            let url = match &p.upstream.source {
                UpstreamSource::Url(url) => url.as_str(),
                UpstreamSource::Path(path) => path.as_str(),
            };
            p.upstream.reference == reference && push.urls.iter().any(|u| same_repository(u, url))
        })
        .map(|p| p.name.clone())
        .collect()
}

/// Whether two git URLs name the same repository: scheme, user, `.git` and case of the host
/// aside (`https://github.com/openvswitch/ovs.git` = `git@github.com:openvswitch/ovs`). A
/// Gerrit project name matches a URL ending in it.
pub fn same_repository(a: &str, b: &str) -> bool {
    fn key(url: &str) -> String {
        let url = url.trim().trim_end_matches('/').trim_end_matches(".git");
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
        let rest = rest.replacen(':', "/", 1);
        match rest.split_once('/') {
            Some((host, path)) => format!("{}/{path}", host.to_lowercase()),
            None => rest.to_lowercase(),
        }
    }
    let (a, b) = (key(a), key(b));
    if a == b {
        return true;
    }
    // A Gerrit project name (`openstack/nova`) has no host: match it with a URL's path end.
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    !short.split('/').next().unwrap_or("").contains('.') && long.ends_with(&format!("/{short}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn urls_of_one_repository_match_whatever_their_form() {
        assert!(same_repository(
            "https://github.com/openvswitch/ovs.git",
            "git@github.com:openvswitch/ovs"
        ));
        assert!(same_repository(
            "ssh://git@GitLab.com/qemu-project/qemu",
            "https://gitlab.com/qemu-project/qemu.git/"
        ));
        assert!(same_repository(
            "openstack/nova",
            "https://opendev.org/openstack/nova"
        ));
        assert!(!same_repository(
            "https://github.com/openvswitch/ovs",
            "https://github.com/openvswitch/ovn"
        ));
    }

    #[test]
    fn pushes_from_each_provider_are_read() {
        let github = json!({"ref": "refs/heads/main", "repository": {"clone_url": "https://github.com/openvswitch/ovs.git"}});
        assert_eq!(
            parse_push(github.to_string().as_bytes())
                .expect("github")
                .reference,
            "refs/heads/main"
        );
        let gitlab = json!({"ref": "refs/heads/master", "project": {"git_http_url": "https://gitlab.com/qemu-project/qemu.git"}});
        assert_eq!(
            parse_push(gitlab.to_string().as_bytes())
                .expect("gitlab")
                .urls,
            ["https://gitlab.com/qemu-project/qemu.git"]
        );
        let gerrit = json!({"type": "ref-updated", "refUpdate": {"project": "openstack/nova", "refName": "refs/heads/master"}});
        assert_eq!(
            parse_push(gerrit.to_string().as_bytes())
                .expect("gerrit")
                .urls,
            ["openstack/nova"]
        );
        assert_eq!(
            parse_push(br#"{"zen": "hi"}"#),
            Err(PushError::Missing("a push event has a \"ref\""))
        );
        assert_eq!(
            parse_push(br#"{"ref": "refs/heads/main"}"#),
            Err(PushError::NoUrl)
        );
        assert!(matches!(parse_push(b"\xff"), Err(PushError::NotJson(_))));
    }
}
