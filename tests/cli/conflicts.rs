//! `carry conflicts` on the demo: its one real conflict, with the patch's and the culprit's
//! authors, a key that stays the same from run to run, and the run it has been open since.

use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::json;

#[test]
fn open_conflicts_keep_their_key_and_say_since_when() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    let none = carry_in(&demo, &["conflicts"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(none.stdout.contains("no run yet"), "{}", none.stdout);

    let first = json(&carry_in(&demo, &["run", "--json"]).stdout);
    let listed = carry_in(&demo, &["conflicts", "--json"]);
    assert_eq!(
        listed.code, 3,
        "open conflicts need attention: {}",
        listed.stderr
    );
    let listed = json(&listed.stdout);
    assert_eq!(listed["schema"], "carry.conflicts/v1");
    let conflicts = listed["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{listed:#}");
    let conflict = &conflicts[0];
    assert_eq!(conflict["project"], "libvirt");
    assert_eq!(conflict["patch"], "hostdev-vf");
    assert!(
        conflict["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("libvirt/hostdev-vf:")),
        "{conflict}"
    );
    assert_eq!(conflict["paths"][0], "src/qemu/qemu_hostdev.c");
    assert!(
        conflict["patch_author"]
            .as_str()
            .is_some_and(|a| a.contains('@'))
    );
    assert!(
        conflict["culprit"]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{conflict}"
    );
    assert_eq!(conflict["since_run"], first["run"]);

    // A second run meets the same conflict: same key, open since the first.
    let second = json(&carry_in(&demo, &["run", "--all", "--json"]).stdout);
    assert_ne!(second["run"], first["run"]);
    let again = json(&carry_in(&demo, &["conflicts", "--json"]).stdout);
    assert_eq!(again["run"], second["run"]);
    assert_eq!(again["conflicts"][0]["key"], conflict["key"]);
    assert_eq!(again["conflicts"][0]["since_run"], first["run"]);
    let text = carry_in(&demo, &["conflicts"]).stdout;
    assert!(
        text.contains("culprit") && text.contains("open     since run"),
        "{text}"
    );
}
