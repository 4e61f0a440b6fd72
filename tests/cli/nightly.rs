//! The nightly run end to end: the demo, tests as real processes (failures, timeouts, the
//! environment they get), reuse, the lock, the stored report, and the report's schema.

use std::path::Path;
use std::time::Duration;
use std::time::Instant;

use crate::support::TestRepo;
use crate::support::TestWorkspace;
use crate::support::carry_in;
use crate::support::check_schema;
use crate::support::hermetic;
use crate::support::json;

fn project<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["projects"]
        .as_array()
        .and_then(|projects| projects.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no project {name} in {report}"))
}

fn outcomes(project: &serde_json::Value) -> Vec<String> {
    project["patches"]
        .as_array()
        .map(|patches| {
            patches
                .iter()
                .map(|p| {
                    format!(
                        "{}={}",
                        p["id"].as_str().unwrap_or(""),
                        p["outcome"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_demo_lands_one_conflicts_one_blocks_nova_and_passes_the_rest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = dir.path().join("demo");
    let output = carry_in(dir.path(), &["demo", &demo.display().to_string(), "--json"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let report = json(&output.stdout);
    check_schema(&report);
    assert_eq!(report["status"], "attention");
    assert_eq!(
        report["order"],
        serde_json::json!(["kernel", "ovs", "qemu", "libvirt", "nova"])
    );
    assert_eq!(
        outcomes(project(&report, "kernel")),
        [
            "kernel/0001-vfio-pci-accept-a-VF-token-for-SR-IOV-VFs=applied",
            "kernel/0002-net-sriov-raise-the-VF-limit-for-NFV-hosts=applied"
        ]
    );
    assert_eq!(
        outcomes(project(&report, "ovs")),
        [
            "ovs/netdev-dpdk-fix-a-leak-in-vhost-teardown=landed",
            "ovs/vhost-numa-realloc=applied"
        ]
    );
    assert_eq!(
        outcomes(project(&report, "libvirt")),
        [
            "libvirt/hostdev-vf=conflict",
            "libvirt/docs-describe-SR-IOV-VF-tokens=applied"
        ]
    );
    assert_eq!(
        outcomes(project(&report, "nova")),
        ["nova/sriov-vf-pci=blocked"]
    );
    for passed in ["kernel", "qemu", "ovs"] {
        assert_eq!(
            project(&report, passed)["test"]["status"],
            "passed",
            "{passed}"
        );
    }
    assert_eq!(project(&report, "libvirt")["test"]["status"], "blocked");
    assert_eq!(project(&report, "nova")["test"]["status"], "blocked");
    assert_eq!(
        report["features"][0],
        serde_json::json!({"name": "sriov", "status": "blocked", "blocked_by": ["libvirt/hostdev-vf"]})
    );

    // The stored report is the same report, in every format.
    let stored = carry_in(&demo, &["report", "--json"]);
    assert_eq!(stored.code, 3);
    assert_eq!(json(&stored.stdout), report);
    let markdown = carry_in(&demo, &["report", "--markdown"]);
    assert!(
        markdown
            .stdout
            .contains("| libvirt | 1 applied, 1 conflict |"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown
            .stdout
            .contains("- **conflict** `libvirt/hostdev-vf`"),
        "{}",
        markdown.stdout
    );

    // A second run reuses every rebase and every test.
    let again = carry_in(&demo, &["run", "--json"]);
    assert_eq!(again.code, 3);
    let again = json(&again.stdout);
    for passed in ["kernel", "qemu", "ovs"] {
        assert_eq!(project(&again, passed)["test"]["reused"], true, "{passed}");
    }
    assert!(
        carry_in(&demo, &["run"])
            .stderr
            .contains("kernel: rebase reused from an earlier run with the same inputs")
    );
}

/// Two projects, `base` and `app` (app consumes base), with a test command each.
fn two_projects(base_test: &str, app_test: &str) -> TestWorkspace {
    let manifest = format!(
        r#"[workspace]
name = "tests"

[project.base]
repo = "repos/base"
upstream = {{ path = "upstream/base", ref = "main" }}
series = {{ branch = "carried" }}
test = {base_test}

[project.app]
repo = "repos/app"
upstream = {{ path = "upstream/app", ref = "main" }}
series = {{ branch = "carried" }}
consumes = ["base"]
test = {app_test}
"#
    );
    let workspace = TestWorkspace::new(&manifest);
    for name in ["base", "app"] {
        let upstream = workspace.repo(&format!("upstream/{name}"));
        upstream.commit_file("lib.c", "one\ntwo\n", "import");
        let status = hermetic(&mut std::process::Command::new("git"))
            .current_dir(workspace.path())
            .args([
                "clone",
                "-q",
                &format!("upstream/{name}"),
                &format!("repos/{name}"),
            ])
            .status()
            .expect("clone");
        assert!(status.success());
        let project = TestRepo::open(&workspace.path().join(format!("repos/{name}")));
        project.git(&["checkout", "-q", "-b", "carried"]);
        project.commit_file(
            "carried.c",
            &format!("{name} patch\n"),
            &format!("{name}: carried patch"),
        );
        upstream.commit_file("lib.c", "one\ntwo\nthree\n", "upstream moves");
    }
    workspace
}

#[test]
fn a_failing_test_blocks_its_consumers_and_keeps_its_log() {
    let workspace = two_projects(
        r#""echo building; echo 'assertion failed: vf_token' >&2; exit 7""#,
        r#""true""#,
    );
    let output = workspace.carry(&["run", "--json"]);
    assert_eq!(output.code, 3, "{}", output.stderr);
    let report = json(&output.stdout);
    let base = &project(&report, "base")["test"];
    assert_eq!(base["status"], "failed");
    assert_eq!(base["exit_code"], 7);
    assert_eq!(
        base["log_tail"],
        serde_json::json!(["building", "assertion failed: vf_token"])
    );
    let log = base["log"].as_str().expect("log path");
    assert!(
        std::fs::read_to_string(log)
            .expect("log file")
            .contains("assertion failed")
    );
    let app = &project(&report, "app")["test"];
    assert_eq!(app["status"], "blocked");
    assert_eq!(app["reason"], "base failed its test");
    let text = workspace.carry(&["report"]);
    assert!(
        text.stdout.contains("test base failed (exit 7)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("  | assertion failed: vf_token"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_timeout_kills_the_test_and_everything_it_started() {
    let workspace = two_projects(
        r#"{ command = "sleep 1000 & echo started; wait", timeout = "1s" }"#,
        r#""true""#,
    );
    let started = Instant::now();
    let output = workspace.carry(&["run", "--json"]);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the run waited for sleep 1000"
    );
    assert_eq!(output.code, 3, "{}", output.stderr);
    let report = json(&output.stdout);
    assert_eq!(project(&report, "base")["test"]["status"], "timeout");
    assert_eq!(project(&report, "app")["test"]["status"], "blocked");
    let survivors = std::process::Command::new("pgrep")
        .args(["-f", "^sleep 1000$"])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    assert!(
        survivors.is_empty(),
        "sleep 1000 outlived its test: {}",
        String::from_utf8_lossy(&survivors)
    );
}

#[test]
fn tests_get_their_checkout_and_everything_they_consume() {
    let workspace = two_projects(
        r#""true""#,
        r#""env | grep -E '^CARRY_(DEP_|PROJECT|RUN|SOURCE_DIR)' | sort > $CARRY_DEP_BASE/../env.txt; test -f $CARRY_DEP_BASE/carried.c && test -f carried.c""#,
    );
    let output = workspace.carry(&["run", "--json", "--jobs", "2"]);
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
    let report = json(&output.stdout);
    assert_eq!(report["status"], "clean");
    let env = std::fs::read_to_string(workspace.path().join(".carry/checkouts/env.txt"))
        .expect("env written");
    let checkouts = workspace.path().join(".carry/checkouts");
    let canonical = checkouts.canonicalize().unwrap_or(checkouts.clone());
    let env = env
        .replace(&canonical.display().to_string(), "[CHECKOUTS]")
        .replace(&checkouts.display().to_string(), "[CHECKOUTS]");
    let run = report["run"].as_str().expect("run id");
    assert_eq!(
        env,
        format!(
            "CARRY_DEP_BASE=[CHECKOUTS]/base\nCARRY_PROJECT=app\nCARRY_RUN={run}\nCARRY_SOURCE_DIR=[CHECKOUTS]/app\n"
        )
    );
}

#[test]
fn a_second_run_is_refused_while_one_is_going() {
    // Long enough that a loaded machine still runs the second while the first holds the lock.
    let workspace = two_projects(r#""sleep 10""#, r#""true""#);
    let mut first = hermetic(&mut std::process::Command::new(env!("CARGO_BIN_EXE_carry")))
        .current_dir(workspace.path())
        .args(["-q", "run"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("first run");
    // Wait until the first run holds the lock.
    let lock = workspace.path().join(".carry/lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&lock).map_or(true, |t| t.is_empty()) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = workspace.carry(&["run"]);
    let holder: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lock).expect("lock")).expect("holder");
    let _ = first.wait();
    assert_eq!(second.code, 1, "{}", second.stderr);
    let expected = format!(
        "error: the workspace is locked by run {} (pid {}, started {})",
        holder["run"].as_str().expect("run"),
        holder["pid"],
        holder["started_at"].as_str().expect("time")
    );
    assert!(
        second.stderr.contains(&expected),
        "{}\nexpected: {expected}",
        second.stderr
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let workspace = two_projects(r#""true""#, r#""true""#);
    // Fetch once so upstream has moved relative to the series base.
    assert_eq!(workspace.carry(&["fetch"]).code, 0);
    let refs = |dir: &Path| TestRepo::open(dir).git(&["for-each-ref"]);
    let before = refs(&workspace.path().join("repos/base"));
    let output = workspace.carry(&["run", "--dry-run"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output
            .stdout
            .contains("stage 1:\n  rebase  base (1 patch): upstream moved"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("stage 2:\n  rebase  app (1 patch): upstream moved"),
        "{}",
        output.stdout
    );
    assert_eq!(refs(&workspace.path().join("repos/base")), before);
    assert!(
        !workspace.path().join(".carry/carry.db").exists(),
        "a dry run records nothing"
    );
}

#[test]
fn a_test_that_cannot_start_puts_its_project_in_error_never_clean() {
    let workspace = two_projects(r#""true""#, r#""true""#);
    // The run's log directory cannot be made: the test process cannot start.
    std::fs::create_dir_all(workspace.path().join(".carry")).expect("state dir");
    std::fs::write(workspace.path().join(".carry/logs"), "not a directory").expect("a file");
    let output = workspace.carry(&["run", "--json"]);
    assert_ne!(output.code, 0, "{}", output.stderr);
    let report = json(&output.stdout);
    let base = project(&report, "base");
    assert_eq!(base["status"], "error", "{base:#}");
    assert!(
        base["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("its test could not run")),
        "{base:#}"
    );
    assert_eq!(base["test"]["status"], "failed");
    let app = &project(&report, "app")["test"];
    assert_eq!(app["status"], "blocked");
    assert_eq!(app["reason"], "base is in error");
    // Not clean: a promotion without --force refuses it.
    let promote = workspace.carry(&["promote"]);
    assert_ne!(promote.code, 0, "{}", promote.stdout);
}

/// A lock that cannot be used is not another run: the message says what is wrong with it.
#[test]
fn a_lock_file_that_cannot_be_used_is_not_reported_as_another_run() {
    let workspace = two_projects(r#""true""#, r#""true""#);
    std::fs::create_dir_all(workspace.path().join(".carry/lock")).expect("a directory");
    let output = workspace.carry(&["run"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("cannot use the lock file"),
        "{}",
        output.stderr
    );
    assert!(
        !output.stderr.contains("wait for that run"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("must be a writable directory"),
        "{}",
        output.stderr
    );
}
