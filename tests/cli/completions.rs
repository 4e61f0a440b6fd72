//! Shell completions and man pages cover every command `carry --help` lists.

use crate::support::carry_in;

/// The commands `carry --help` lists (but `help`).
fn commands() -> Vec<String> {
    let help = carry_in(std::path::Path::new("."), &["--help"]).stdout;
    let listed: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .expect("a Commands section")
        .split("Options:")
        .next()
        .unwrap_or_default()
        .lines()
        // A command's line starts two spaces in; wrapped descriptions go further.
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    assert!(listed.len() > 15, "{help}");
    listed
}

#[test]
fn completions_name_every_command_in_every_shell() {
    let commands = commands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = carry_in(std::path::Path::new("."), &["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        for command in &commands {
            assert!(
                out.stdout.contains(command.as_str()),
                "{shell} lacks {command}"
            );
        }
    }
    let bash = carry_in(std::path::Path::new("."), &["completions", "bash"]).stdout;
    // Nested commands and options too.
    assert!(
        bash.contains("--reason") && bash.contains("export"),
        "{bash}"
    );
    let bad = carry_in(std::path::Path::new("."), &["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn man_pages_are_written_for_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = carry_in(dir.path(), &["man", "pages"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pages = dir.path().join("pages");
    let top = std::fs::read_to_string(pages.join("carry.1")).expect("carry.1");
    assert!(
        top.starts_with(".ie") || top.contains(".TH carry 1"),
        "{top}"
    );
    for command in commands() {
        let page = pages.join(format!("carry-{command}.1"));
        let text =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        assert!(text.contains(".SH SYNOPSIS"), "{command}");
    }
    assert!(pages.join("carry-resolutions-export.1").exists());
}
