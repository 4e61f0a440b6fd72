//! A three-project workspace (`base`, `app` consuming it, `other` alone) with upstreams on
//! local paths, and a progress sink and an executor that record what they see.

use std::path::Path;
use std::sync::Mutex;

use carry_adapters::process::Ended;
use carry_adapters::process::TestCommand;
use carry_adapters::process::TestRun;
use carry_orchestrator::events::Progress;
use carry_orchestrator::events::RunEvent;
use carry_orchestrator::executor::Executor;
use carry_orchestrator::executor::TestFuture;
use carry_orchestrator::workspace::LoadedWorkspace;

use crate::repo::TestRepo;
use crate::repo::hermetic;

pub(crate) const MANIFEST: &str = r#"[workspace]
name = "engine"

[project.base]
repo = "repos/base"
upstream = { path = "upstream/base", ref = "main" }
series = { branch = "carried" }
test = "true"

[project.app]
repo = "repos/app"
upstream = { path = "upstream/app", ref = "main" }
series = { branch = "carried" }
consumes = ["base"]
test = "true"

[project.other]
repo = "repos/other"
upstream = { path = "upstream/other", ref = "main" }
series = { branch = "carried" }
test = "true"
"#;

//   upstream/NAME:  import
//   repos/NAME:     import ── NAME: carried patch   (branch `carried`)
pub(crate) fn workspace(dir: &Path) {
    std::fs::write(dir.join("carry.toml"), MANIFEST).expect("manifest");
    for name in ["base", "app", "other"] {
        let upstream = TestRepo::init(dir.join("upstream").join(name));
        upstream.commit_file("lib.c", "one\ntwo\n", "import");
        let status = hermetic(&mut std::process::Command::new("git"))
            .current_dir(dir)
            .args([
                "clone",
                "-q",
                &format!("upstream/{name}"),
                &format!("repos/{name}"),
            ])
            .status()
            .expect("clone");
        assert!(status.success());
        let project = repo(dir, name);
        project.git(&["checkout", "-q", "-b", "carried"]);
        project.commit_file(
            "carried.c",
            &format!("{name} patch\n"),
            &format!("{name}: carried patch"),
        );
    }
}

pub(crate) fn repo(dir: &Path, name: &str) -> TestRepo {
    TestRepo::open(&dir.join("repos").join(name))
}

pub(crate) fn upstream(dir: &Path, name: &str) -> TestRepo {
    TestRepo::open(&dir.join("upstream").join(name))
}

pub(crate) fn load(dir: &Path) -> LoadedWorkspace {
    carry_orchestrator::workspace::load(dir).expect("the workspace loads")
}

/// Keeps every event.
#[derive(Default)]
pub(crate) struct Recorded(pub(crate) Mutex<Vec<RunEvent>>);

impl Progress for Recorded {
    fn event(&self, event: RunEvent) {
        self.0.lock().expect("not poisoned").push(event);
    }
}

/// Passes every test at once, keeping what it was asked to run.
#[derive(Default)]
pub(crate) struct RecordingExecutor(pub(crate) Mutex<Vec<TestCommand>>);

impl Executor for RecordingExecutor {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn run(&self, test: TestCommand, _cancel: carry_adapters::cancel::Cancel) -> TestFuture {
        self.0.lock().expect("not poisoned").push(test);
        Box::pin(async {
            Ok(TestRun {
                ended: Ended::Passed,
                exit_code: Some(0),
                duration_ms: 0,
                tail: Vec::new(),
                job: None,
            })
        })
    }
}

impl RecordingExecutor {
    /// The projects tested, in the order their tests started.
    pub(crate) fn projects(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(|t| {
                t.env
                    .iter()
                    .find(|(k, _)| k == "CARRY_PROJECT")
                    .map(|(_, v)| v.clone())
            })
            .collect()
    }
}
