//! Test support: hermetic git repositories and workspaces built by code, and the carry binary.
//!
//! Every git command runs with pinned identities and dates and no user or system config, so
//! object ids are the same on every machine.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support module"
)]

mod repo;

use std::path::Path;
use std::process::Command;

pub(crate) use repo::TestRepo;
pub(crate) use repo::hermetic;

/// A workspace directory with a `carry.toml`.
pub(crate) struct TestWorkspace {
    pub(crate) dir: tempfile::TempDir,
}

impl TestWorkspace {
    pub(crate) fn new(manifest: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("carry.toml"), manifest).expect("write manifest");
        Self { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn repo(&self, relative: &str) -> TestRepo {
        TestRepo::init(self.path().join(relative))
    }

    pub(crate) fn write(&self, relative: &str, contents: &str) {
        let target = self.path().join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(target, contents).expect("write file");
    }

    /// `git clone` of `from` to `to`, both relative to the workspace.
    pub(crate) fn clone_repo(&self, from: &str, to: &str) {
        let status = hermetic(&mut Command::new("git"))
            .current_dir(self.path())
            .args(["clone", "-q", from, to])
            .status()
            .expect("git clone");
        assert!(status.success(), "git clone {from} {to}");
    }

    /// Runs carry in the workspace with colour off.
    pub(crate) fn carry(&self, args: &[&str]) -> CarryOutput {
        carry_in(self.path(), args)
    }
}

/// What a carry run printed and how it exited.
#[derive(Debug)]
pub(crate) struct CarryOutput {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs the carry binary in `dir` with colour off and a hermetic git environment.
pub(crate) fn carry_in(dir: &Path, args: &[&str]) -> CarryOutput {
    let output = hermetic(&mut Command::new(env!("CARGO_BIN_EXE_carry")))
        .env_remove("CARRY_LOG")
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run carry");
    CarryOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Builds the demo workspace at `dir/name` without running it; returns its path.
pub(crate) fn demo_workspace(dir: &Path, name: &str) -> std::path::PathBuf {
    let demo = dir.join(name);
    let built = carry_in(dir, &["demo", "--no-run", &demo.display().to_string()]);
    assert_eq!(built.code, 0, "carry demo --no-run: {}", built.stderr);
    demo
}

/// Parses carry's JSON output, or fails showing it.
pub(crate) fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Replaces what changes between runs (temp paths, object ids) with stable placeholders.
pub(crate) fn normalize(text: &str, temp: &Path) -> String {
    let mut out = text.replace(&temp.display().to_string(), "[TEMP]");
    if let Ok(canonical) = temp.canonicalize() {
        out = out.replace(&canonical.display().to_string(), "[TEMP]");
    }
    let mut result = String::with_capacity(out.len());
    let mut run = String::new();
    for c in out.chars() {
        if c.is_ascii_hexdigit() && c.is_ascii_lowercase() || c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        flush_hex(&mut run, &mut result);
        result.push(c);
    }
    flush_hex(&mut run, &mut result);
    result
}

fn flush_hex(run: &mut String, out: &mut String) {
    if run.len() >= 12 && run.chars().any(|c| c.is_ascii_alphabetic()) {
        out.push_str("[OID]");
    } else {
        out.push_str(run);
    }
    run.clear();
}

/// The report against the JSON Schema published in `docs/carry.run.v1.schema.json`.
pub(crate) fn check_schema(report: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/carry.run.v1.schema.json"))
            .expect("schema parses");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "the report does not match its schema: {errors:#?}"
    );
}
