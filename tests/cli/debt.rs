//! `carry debt`: ages, upstream states and deadlines from each source, overdue first.

use crate::support::TestRepo;
use crate::support::TestWorkspace;
use crate::support::hermetic;

#[test]
fn deadlines_come_from_the_patch_the_feature_or_the_age_limit() {
    let workspace = TestWorkspace::new(
        r#"[workspace]
name = "debt"
max-patch-age = "90d"

[project.qemu]
repo = "repos/qemu"
upstream = { path = "upstream/qemu", ref = "main" }
series = { branch = "carried" }

[feature.sriov]
deadline = 2024-06-30
[feature.sriov.patches]
"qemu/in-a-feature" = []
"#,
    );
    let upstream = workspace.repo("upstream/qemu");
    upstream.commit_file("a.c", "a\n", "import");
    workspace.clone_repo("upstream/qemu", "repos/qemu");
    let repo = TestRepo::open(&workspace.path().join("repos/qemu"));
    repo.git(&["checkout", "-q", "-b", "carried"]);
    // The support clock dates these commits 2027-01-15 onwards; `CARRY_TODAY` pins "now".
    repo.commit_file("b.c", "b\n", "own deadline\n\nCarry-Patch: own-deadline\nCarry-Deadline: 2027-02-01\nUpstream-Status: Submitted [https://lists.example.org/1]");
    repo.commit_file(
        "c.c",
        "c\n",
        "in a feature\n\nCarry-Patch: in-a-feature\nForwarded: https://bugs.example.org/2",
    );
    repo.commit_file("d.c", "d\n", "nothing said\n\nCarry-Patch: untracked");
    repo.commit_file(
        "e.c",
        "e\n",
        "gerrit\n\nCarry-Patch: gerrit\nChange-Id: I0123456789abcdef0123456789abcdef01234567",
    );

    let run = |args: &[&str]| {
        hermetic(&mut std::process::Command::new(env!("CARGO_BIN_EXE_carry")))
            .current_dir(workspace.path())
            .env("CARRY_TODAY", "2027-03-01")
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .expect("carry debt")
    };
    let output = run(&["debt", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let rows: Vec<(String, bool, String, String)> = report["patches"]
        .as_array()
        .expect("patches")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or("").to_owned(),
                p["overdue"].as_bool().unwrap_or(false),
                p["deadline"].as_str().unwrap_or("").to_owned(),
                p["deadline_source"]["kind"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "qemu/in-a-feature".to_owned(),
                true,
                "2024-06-30".to_owned(),
                "feature".to_owned()
            ),
            (
                "qemu/own-deadline".to_owned(),
                true,
                "2027-02-01".to_owned(),
                "patch".to_owned()
            ),
            (
                "qemu/untracked".to_owned(),
                false,
                "2027-04-15".to_owned(),
                "max-patch-age".to_owned()
            ),
            (
                "qemu/gerrit".to_owned(),
                false,
                "2027-04-15".to_owned(),
                "max-patch-age".to_owned()
            ),
        ]
    );
    let untracked = report["patches"]
        .as_array()
        .expect("patches")
        .iter()
        .find(|p| p["id"] == "qemu/untracked")
        .expect("row");
    assert_eq!(untracked["upstream"]["untracked"], true);
    let own = report["patches"]
        .as_array()
        .expect("patches")
        .iter()
        .find(|p| p["id"] == "qemu/own-deadline")
        .expect("row");
    assert_eq!(own["upstream"]["link"], "https://lists.example.org/1");
    assert_eq!(report["projects"]["qemu"]["count"], 4);
    assert_eq!(report["projects"]["qemu"]["overdue"], 2);
    assert_eq!(report["projects"]["qemu"]["untracked"], 1);
    assert_eq!(report["features"]["sriov"]["overdue"], 1);

    assert_eq!(run(&["debt", "--strict"]).status.code(), Some(3));
    let text = String::from_utf8_lossy(&run(&["debt"]).stdout).into_owned();
    assert!(
        text.starts_with("4 patches carried as of 2027-03-01: 2 overdue, 1 untracked\n"),
        "{text}"
    );
    assert!(text.contains("upstream: UNTRACKED"), "{text}");
}
