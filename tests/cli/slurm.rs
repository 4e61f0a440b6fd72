//! Tests through a real Slurm cluster (`scripts/slurm-cluster.sh start`; CI starts one and
//! sets `CARRY_REQUIRE_SLURM=1`). Without a cluster these tests say so and pass, unless it
//! is required.

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use std::time::Instant;

use crate::support::TestRepo;
use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::json;

/// Whether a cluster answers; panics when one is required and none does.
fn cluster() -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(
            std::env::var_os("CARRY_REQUIRE_SLURM").is_none(),
            "CARRY_REQUIRE_SLURM is set but no Slurm cluster answers (SLURM_CONF={:?})",
            std::env::var_os("SLURM_CONF")
        );
        eprintln!("no Slurm cluster answers: skipped (scripts/slurm-cluster.sh start)");
    }
    up
}

fn shared_dir(dir: &Path) -> String {
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    shared.display().to_string()
}

fn use_slurm(workspace: &Path, shared: &str) {
    let manifest = workspace.join("carry.toml");
    let mut text = std::fs::read_to_string(&manifest).expect("manifest");
    text.push_str(&format!(
        "\n[executor]\nkind = \"slurm\"\nshared-dir = \"{shared}\"\n"
    ));
    std::fs::write(&manifest, text).expect("manifest");
}

/// A report with what differs between executors (times, logs, jobs, run ids) left out.
fn comparable(report: &serde_json::Value) -> serde_json::Value {
    let mut report = report.clone();
    report["run"] = serde_json::Value::Null;
    for project in report["projects"].as_array_mut().expect("projects") {
        let test = &mut project["test"];
        for key in ["duration_ms", "log", "job"] {
            test.as_object_mut().map(|t| t.remove(key));
        }
    }
    report
}

#[test]
fn the_demo_through_slurm_reports_what_the_local_executor_reports() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let local = demo_workspace(dir.path(), "local");
    let cluster = demo_workspace(dir.path(), "cluster");
    use_slurm(&cluster, &shared_dir(dir.path()));
    let by_process = json(&carry_in(&local, &["run", "--json"]).stdout);
    let started = Instant::now();
    let through_slurm = carry_in(&cluster, &["run", "--json"]);
    assert_eq!(through_slurm.code, 3, "{}", through_slurm.stderr);
    let through_slurm = json(&through_slurm.stdout);
    crate::support::check_schema(&through_slurm);
    eprintln!("the demo through Slurm: {:?}", started.elapsed());
    assert_eq!(comparable(&through_slurm), comparable(&by_process));
    let kernel = &through_slurm["projects"][0];
    assert_eq!(kernel["name"], "kernel");
    assert!(kernel["test"]["job"]["id"].as_str().is_some(), "{kernel}");
    assert!(kernel["test"]["job"]["node"].as_str().is_some(), "{kernel}");
    let log = std::fs::read_to_string(kernel["test"]["log"].as_str().expect("a log")).expect("log");
    assert!(log.contains("kernel: vfio-pci accepts VF tokens"), "{log}");

    // Nothing changed: nothing is submitted again.
    let again = json(&carry_in(&cluster, &["run", "--all", "--json"]).stdout);
    for project in again["projects"].as_array().expect("projects") {
        if project["test"]["status"] == "passed" {
            assert_eq!(project["test"]["reused"], true, "{project}");
        }
    }
}

/// A workspace of one project whose test is `test` (a table's inside), through Slurm.
fn one_project(dir: &Path, test: &str) -> std::path::PathBuf {
    let root = dir.join("ws");
    let upstream = TestRepo::init(root.join("upstream"));
    upstream.commit_file("lib.c", "one\n", "import");
    let repo_dir = root.join("repo");
    let cloned = Command::new("git")
        .args(["clone", "-q"])
        .arg(&upstream.path)
        .arg(&repo_dir)
        .output()
        .expect("clone");
    assert!(cloned.status.success());
    let repo = TestRepo::open(&repo_dir);
    repo.git(&["checkout", "-q", "-b", "carried"]);
    repo.commit_file("carried.c", "carried\n", "a carried patch");
    upstream.commit_file("lib.c", "one\ntwo\n", "upstream moves");
    let shared = shared_dir(dir);
    std::fs::write(
        root.join("carry.toml"),
        format!(
            "[workspace]\nname = \"slurm\"\n\n[executor]\nkind = \"slurm\"\nshared-dir = \"{shared}\"\n\n[project.app]\nrepo = \"repo\"\nupstream = {{ path = \"upstream\", ref = \"main\" }}\nseries = {{ branch = \"carried\", base = \"main\" }}\ntest = {{ {test} }}\n"
        ),
    )
    .expect("manifest");
    // The series' base: upstream before it moved.
    repo.git(&["branch", "-f", "main", "HEAD~1"]);
    root
}

#[test]
fn a_failing_test_and_a_timed_out_test_end_as_the_cluster_ended_them() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let failing = one_project(
        &dir.path().join("f"),
        r#"command = "echo about to fail; exit 7""#,
    );
    let report = json(&carry_in(&failing, &["run", "--json"]).stdout);
    let test = &report["projects"][0]["test"];
    assert_eq!(test["status"], "failed", "{test}");
    assert_eq!(test["exit_code"], 7);
    assert_eq!(test["log_tail"][0], "about to fail");

    let slow = one_project(
        &dir.path().join("t"),
        r#"command = "echo started; sleep 600", timeout = "5s""#,
    );
    let started = Instant::now();
    let report = json(&carry_in(&slow, &["run", "--json"]).stdout);
    let test = &report["projects"][0]["test"];
    assert_eq!(
        test["status"], "timeout",
        "the cluster ended it at its limit: {test}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(150),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_killed_carry_leaves_no_job_behind_once_the_next_command_runs() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let root = one_project(dir.path(), r#"command = "sleep 600", timeout = "20m""#);
    let mut carry = Command::new(env!("CARGO_BIN_EXE_carry"))
        .args(["run", "--json"])
        .current_dir(&root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("carry runs");
    let job = running_job(dir.path());
    carry.kill().expect("SIGKILL");
    let _ = carry.wait();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        jobs_under(dir.path()).iter().any(|(id, _)| *id == job),
        "the job outlives the carry that submitted it"
    );
    let next = carry_in(&root, &["run", "--no-test"]);
    assert!(
        next.stderr.contains(&format!("slurm job {job}")),
        "the next run says it ended the job: {}",
        next.stderr
    );
    let state = Command::new("scontrol")
        .args(["show", "job", "-o", &job])
        .output()
        .expect("scontrol");
    let state = String::from_utf8_lossy(&state.stdout);
    assert!(state.contains("JobState=CANCELLED"), "{state}");
}

/// `[executor]` mistakes are reported at file:line, every one at once, with no cluster needed.
#[test]
fn executor_mistakes_point_at_their_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::write(
        root.join("carry.toml"),
        "[workspace]\nname = \"x\"\n\n[executor]\nkind = \"slurmm\"\nnodes = 3\n\n[project.app]\nrepo = \"repo\"\nupstream = { path = \"up\", ref = \"main\" }\nseries = { branch = \"carried\", base = \"main\" }\ntest = { command = \"true\", sbatch-args = [\"--time=5\", \"--mem=1G\"] }\n",
    )
    .expect("manifest");
    let out = carry_in(root, &["validate"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("carry.toml:5"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("unknown executor kind 'slurmm', did you mean 'slurm'?"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("carry.toml:6"), "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown key 'nodes' in [executor]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("carry sets --time itself"),
        "{}",
        out.stderr
    );

    std::fs::write(
        root.join("carry.toml"),
        "[workspace]\nname = \"x\"\n\n[executor]\nkind = \"slurm\"\nshared-dir = \"relative/dir\"\n",
    )
    .expect("manifest");
    let out = carry_in(root, &["validate"]);
    assert!(
        out.stderr.contains("carry.toml:6") && out.stderr.contains("is not an absolute path"),
        "{}",
        out.stderr
    );
    std::fs::write(
        root.join("carry.toml"),
        "[workspace]\nname = \"x\"\n\n[executor]\nkind = \"slurm\"\n",
    )
    .expect("manifest");
    let out = carry_in(root, &["validate"]);
    assert!(
        out.stderr
            .contains("missing key 'shared-dir' in [executor]"),
        "{}",
        out.stderr
    );
}

/// The ids and states of the jobs whose working directory is under `dir` (one test's).
fn jobs_under(dir: &Path) -> Vec<(String, String)> {
    let listed = Command::new("squeue")
        .args(["-h", "-o", "%i|%T|%Z"])
        .output()
        .expect("squeue");
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, '|');
            let (id, state, work) = (parts.next()?, parts.next()?, parts.next()?);
            Path::new(work)
                .starts_with(&dir)
                .then(|| (id.to_owned(), state.to_owned()))
        })
        .collect()
}

/// Waits for a running job of the test working in `dir`.
fn running_job(dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((id, _)) = jobs_under(dir).into_iter().find(|(_, s)| s == "RUNNING") {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "the job never ran: {:?}",
            jobs_under(dir)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn job_state(id: &str) -> String {
    let out = Command::new("scontrol")
        .args(["show", "job", "-o", id])
        .output()
        .expect("scontrol");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_job_the_cluster_ends_for_its_own_reasons_is_an_error_not_a_failure() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    // Someone (here the job itself) cancels it on the cluster: not the test failing.
    let root = one_project(dir.path(), r#"command = "scancel $SLURM_JOB_ID; sleep 30""#);
    let report = json(&carry_in(&root, &["run", "--json"]).stdout);
    let project = &report["projects"][0];
    assert_eq!(project["status"], "error", "{project}");
    let error = project["error"].as_str().expect("an error");
    assert!(
        error.contains("CANCELLED") && error.contains("not the test's doing"),
        "{error}"
    );
}

#[test]
fn sigterm_to_carry_cancels_its_jobs() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let root = one_project(dir.path(), r#"command = "sleep 600", timeout = "20m""#);
    let carry = Command::new(env!("CARGO_BIN_EXE_carry"))
        .args(["run"])
        .current_dir(&root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("carry runs");
    let job = running_job(dir.path());
    let sent = Command::new("kill")
        .args(["-TERM", &carry.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let stopped = Instant::now();
    let out = carry.wait_with_output().expect("carry ends");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "{:?}",
        stopped.elapsed()
    );
    let state = job_state(&job);
    assert!(state.contains("JobState=CANCELLED"), "{state}");
}

#[test]
fn a_controller_that_does_not_answer_is_a_clear_error_and_the_next_run_tests_again() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let root = one_project(dir.path(), r#"command = "true""#);
    // The same cluster's configuration, with a port nobody listens on.
    let conf = std::env::var("SLURM_CONF").unwrap_or_else(|_| "/etc/slurm/slurm.conf".to_owned());
    let text = std::fs::read_to_string(&conf).expect("slurm.conf");
    let down = dir.path().join("down.conf");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("SlurmctldPort=") {
                format!("SlurmctldPort={port}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&down, text).expect("write");
    let out = crate::support::hermetic(&mut Command::new(env!("CARGO_BIN_EXE_carry")))
        .args(["run", "--json"])
        .current_dir(&root)
        .env("SLURM_CONF", &down)
        .env("NO_COLOR", "1")
        .output()
        .expect("carry runs");
    let report = json(&String::from_utf8_lossy(&out.stdout));
    let project = &report["projects"][0];
    assert_eq!(project["status"], "error", "{project}");
    assert!(
        project["error"]
            .as_str()
            .is_some_and(|e| e.contains("Unable to contact slurm controller")),
        "{project}"
    );
    // The cluster answers again: the next run tests it.
    let again = json(&carry_in(&root, &["run", "--json"]).stdout);
    assert_eq!(again["projects"][0]["test"]["status"], "passed", "{again}");
    assert!(again["projects"][0]["test"]["reused"].is_null());
}
