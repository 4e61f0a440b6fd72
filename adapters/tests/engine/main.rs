//! The rebase engine against git itself, on histories generated at random and on a corpus of
//! tricky cases: the same trees as `git merge-tree --write-tree`, conflicts where git
//! conflicts, landed verdicts equal to `git cherry`, patch-ids equal to `git patch-id --stable`.

#[path = "../../../tests/support/repo.rs"]
mod repo;

mod corpus;
mod objects;
mod oracle;
mod patch_dir;
mod properties;
mod rerere;
