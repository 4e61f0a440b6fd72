//! Rendering diagnostics with a caret under the problem, via annotate-snippets.
//!
//! Always rendered styled; `anstream` strips the colour when it is off (`--color never`,
//! `NO_COLOR`, not a terminal).

use annotate_snippets::AnnotationKind;
use annotate_snippets::Group;
use annotate_snippets::Level;
use annotate_snippets::Renderer;
use annotate_snippets::Snippet;
use carry_graph::Diagnostic;
use carry_graph::Severity;

pub(crate) fn diagnostics(diagnostics: &[Diagnostic]) -> String {
    let renderer = Renderer::styled();
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&renderer.render(&report(diagnostic)));
        out.push_str("\n\n");
    }
    out
}

fn report(diagnostic: &Diagnostic) -> Vec<Group<'_>> {
    let level = match diagnostic.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Note => Level::NOTE,
    };
    let title = level.primary_title(diagnostic.message.as_str());
    let mut groups = Vec::new();
    match &diagnostic.location {
        Some(location) => {
            let mut annotation = AnnotationKind::Primary.span(location.highlight.clone());
            if let Some(label) = &diagnostic.label {
                annotation = annotation.label(label.as_str());
            }
            groups.push(
                title.element(
                    Snippet::source(location.line_text.as_str())
                        .line_start(location.line)
                        .path(location.file.as_str())
                        .annotation(annotation),
                ),
            );
        }
        None => groups.push(Group::with_title(title)),
    }
    if let Some(help) = &diagnostic.help {
        groups.push(Group::with_title(
            Level::HELP.secondary_title(help.as_str()),
        ));
    }
    groups
}
