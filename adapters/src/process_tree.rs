//! Every process a test started, found and ended, wherever it went.
//!
//! A process group is not enough: a test can start `setsid daemon &` or double-fork, and its
//! process leaves the group (and the tree, once its parent exits). What every descendant
//! keeps, unless it clears its environment on purpose, is the environment it inherited, so
//! carry marks each test's environment with two tags: the workspace's
//! ([`WORKSPACE_TAG_VAR`], the same for every run in one `.carry/`) and the test's
//! ([`TEST_TAG_VAR`], `<run>/<project>`). At a test's end carry ends every process carrying
//! its test tag; a command that holds the workspace lock ends every process carrying the
//! workspace tag, which can only be what a dead carry left running (the lock proves no carry
//! is running tests there). This is the technique Jenkins' process-tree killer uses; Linux
//! cgroups would be stricter but need privileges a CI runner rarely gives.
//!
//! A pid is never signalled on its number alone: carry opens a pidfd (which pins one
//! process), reads that process's environment, checks through the pidfd that the process is
//! still the one it opened, and signals through the pidfd. A reused pid is never hit.

use std::path::Path;

/// The environment variable naming the workspace whose test started a process.
pub const WORKSPACE_TAG_VAR: &str = "CARRY_WORKSPACE_TAG";
/// The environment variable naming the test (`<run>/<project>`) that started a process.
pub const TEST_TAG_VAR: &str = "CARRY_TEST_TAG";

/// How many times the search for tagged processes is repeated: a process can fork between
/// one search and its kill, and its child is found by the next.
const ROUNDS: usize = 20;

/// The tags one test's processes carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestTag {
    /// The workspace's tag ([`workspace_tag`]).
    pub workspace: String,
    /// The test's: `<run>/<project>`.
    pub test: String,
}

impl TestTag {
    /// The environment entries that mark a test's processes.
    pub fn env(&self) -> [(String, String); 2] {
        [
            (WORKSPACE_TAG_VAR.to_owned(), self.workspace.clone()),
            (TEST_TAG_VAR.to_owned(), self.test.clone()),
        ]
    }
}

/// The tag of the workspace whose state is in `state_dir`: a digest of its absolute path,
/// so two workspaces on one machine never end each other's tests.
pub fn workspace_tag(state_dir: &Path) -> String {
    let path = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_owned());
    let digest = sha1_smol::Sha1::from(path.to_string_lossy().as_bytes())
        .digest()
        .to_string();
    digest[..16].to_owned()
}

/// Which tagged processes to look for.
#[derive(Debug, Clone, Copy)]
pub enum Selector<'a> {
    /// Every process a test of this workspace started.
    Workspace(&'a str),
    /// The processes of one test.
    Test(&'a TestTag),
}

impl Selector<'_> {
    fn matches(&self, environment: &[u8]) -> bool {
        let value = |name: &str| {
            environment.split(|b| *b == 0).find_map(|entry| {
                entry
                    .strip_prefix(name.as_bytes())
                    .and_then(|rest| rest.strip_prefix(b"="))
            })
        };
        match self {
            Selector::Workspace(workspace) => {
                value(WORKSPACE_TAG_VAR) == Some(workspace.as_bytes())
            }
            Selector::Test(tag) => {
                value(WORKSPACE_TAG_VAR) == Some(tag.workspace.as_bytes())
                    && value(TEST_TAG_VAR) == Some(tag.test.as_bytes())
            }
        }
    }
}

/// A process a test started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaggedProcess {
    /// Its pid (when it was found).
    pub pid: u32,
    /// The test that started it (`<run>/<project>`).
    pub test: String,
    /// Its command line, for messages.
    pub command: String,
}

/// The live processes `selector` picks, this one excepted.
pub fn find(selector: Selector<'_>) -> Vec<TaggedProcess> {
    candidates()
        .into_iter()
        .filter_map(|pid| {
            let environment = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            selector
                .matches(&environment)
                .then(|| describe(pid, &environment))
        })
        .collect()
}

/// Ends (SIGKILL) every process `selector` picks, again and again until none is left or
/// [`ROUNDS`] searches were made; returns what was ended.
pub fn end(selector: Selector<'_>) -> Vec<TaggedProcess> {
    let mut ended = Vec::new();
    for _ in 0..ROUNDS {
        let mut found = false;
        for pid in candidates() {
            if let Some(process) = kill_if(pid, selector) {
                found = true;
                if !ended.iter().any(|p: &TaggedProcess| p.pid == process.pid) {
                    ended.push(process);
                }
            }
        }
        if !found {
            break;
        }
        // Let the killed ones die before looking again, so a zombie-to-be is not counted.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if !ended.is_empty() {
        tracing::debug!(count = ended.len(), "ended tagged processes");
    }
    ended
}

/// Kills `pid` if it is a tagged process `selector` picks, through a pidfd.
fn kill_if(pid: u32, selector: Selector<'_>) -> Option<TaggedProcess> {
    use rustix::process::PidfdFlags;
    use rustix::process::Signal;

    let raw = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    let pidfd = rustix::process::pidfd_open(raw, PidfdFlags::empty()).ok()?;
    let environment = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    if !selector.matches(&environment) {
        return None;
    }
    // Still alive through the pidfd (a pidfd turns readable when its process ends): the
    // environment read was this process's, not that of one given its pid after it died.
    let mut poll = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    if rustix::event::poll(&mut poll, Some(&zero)).ok()? != 0 {
        return None;
    }
    let process = describe(pid, &environment);
    rustix::process::pidfd_send_signal(&pidfd, Signal::KILL).ok()?;
    Some(process)
}

/// Every pid in /proc but this process's own.
fn candidates() -> Vec<u32> {
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != own)
        .collect()
}

fn describe(pid: u32, environment: &[u8]) -> TaggedProcess {
    let test = environment
        .split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(format!("{TEST_TAG_VAR}=").as_bytes()))
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default();
    let command = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|line| {
            let parts: Vec<String> = line
                .split(|b| *b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect();
            parts.join(" ")
        })
        .unwrap_or_default();
    TaggedProcess { pid, test, command }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(test: &str) -> TestTag {
        TestTag {
            workspace: format!("test{}", std::process::id()),
            test: test.to_owned(),
        }
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let state = stat
                    .rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .next()?
                    .to_owned();
                Some(state != "Z")
            })
            .unwrap_or(false)
    }

    /// A process that left its group and its parent (setsid, double fork) is found by its
    /// tag and ended; one with another test's tag is left alone.
    #[test]
    fn escaped_processes_are_found_and_ended_by_their_tag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mine = tag("r1/qemu");
        let other = tag("r1/libvirt");
        let start = |tag: &TestTag, file: &str| {
            let marker = dir.path().join(file);
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "(setsid sh -c 'echo $$ > {}; exec sleep 60' &) ; sleep 0.1",
                    marker.display()
                ))
                .envs(tag.env())
                .status()
                .expect("runs");
            for _ in 0..100 {
                if let Some(pid) = std::fs::read_to_string(&marker)
                    .ok()
                    .and_then(|p| p.trim().parse::<u32>().ok())
                {
                    return pid;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            panic!("no pid in {}", marker.display());
        };
        let escaped = start(&mine, "mine.pid");
        let bystander = start(&other, "other.pid");
        assert!(alive(escaped) && alive(bystander));
        let found = find(Selector::Test(&mine));
        assert_eq!(
            found.iter().map(|p| p.pid).collect::<Vec<_>>(),
            [escaped],
            "{found:?}"
        );
        assert_eq!(found[0].test, "r1/qemu");
        assert!(found[0].command.contains("sleep 60"), "{found:?}");
        let ended = end(Selector::Test(&mine));
        assert_eq!(ended.len(), 1);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!alive(escaped), "the escaped process survived");
        assert!(alive(bystander), "another test's process was hit");
        // The workspace selector takes every test's.
        let ended = end(Selector::Workspace(&mine.workspace));
        assert_eq!(ended.iter().map(|p| p.pid).collect::<Vec<_>>(), [bystander]);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!alive(bystander));
        assert!(find(Selector::Workspace(&mine.workspace)).is_empty());
    }

    #[test]
    fn two_workspaces_have_two_tags() {
        let a = tempfile::tempdir().expect("temp dir");
        let b = tempfile::tempdir().expect("temp dir");
        assert_ne!(workspace_tag(a.path()), workspace_tag(b.path()));
        assert_eq!(workspace_tag(a.path()), workspace_tag(a.path()));
    }
}
