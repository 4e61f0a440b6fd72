//! Stage one: the TOML document as raw values with spans.
//!
//! serde's derive stops at the first problem, and a user fixing a manifest wants every problem
//! at once, so this stage walks toml_edit's span-keeping document by hand. It checks only shape
//! (known keys, value types); names, references and cycles are stage two's job.

use toml_edit::Item;
use toml_edit::Key;
use toml_edit::Value;

use crate::diagnostic::Diagnostic;
use crate::diagnostic::Location;
use crate::diagnostic::did_you_mean;

pub(crate) use crate::workspace::Span;

/// A value with the span it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

#[derive(Debug, Default)]
pub(crate) struct RawManifest {
    pub(crate) workspace: Option<RawWorkspace>,
    pub(crate) executor: Option<RawExecutor>,
    pub(crate) notify: Option<RawNotify>,
    pub(crate) projects: Vec<RawProject>,
    pub(crate) features: Vec<RawFeature>,
}

#[derive(Debug, Default)]
pub(crate) struct RawWorkspace {
    /// Keys present, whatever their values; a wrong value is not also "missing".
    pub(crate) seen: Vec<String>,
    pub(crate) anchor: Span,
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) max_patch_age: Option<Spanned<String>>,
    pub(crate) test_timeout: Option<Spanned<String>>,
    pub(crate) timezone: Option<Spanned<String>>,
    pub(crate) test_log_limit: Option<Spanned<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawExecutor {
    pub(crate) anchor: Span,
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) partition: Option<Spanned<String>>,
    pub(crate) shared_dir: Option<Spanned<String>>,
    pub(crate) sbatch_args: Vec<Spanned<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawNotify {
    pub(crate) webhooks: Vec<Spanned<String>>,
    pub(crate) chat: Vec<Spanned<String>>,
}

#[derive(Debug)]
pub(crate) struct RawProject {
    /// Keys present, whatever their values; a wrong value is not also "missing".
    pub(crate) seen: Vec<String>,
    pub(crate) name: Spanned<String>,
    pub(crate) repo: Option<Spanned<String>>,
    pub(crate) upstream: Option<RawUpstream>,
    pub(crate) series: Option<RawSeries>,
    pub(crate) consumes: Vec<Spanned<String>>,
    pub(crate) test: Option<RawTest>,
}

#[derive(Debug)]
pub(crate) struct RawUpstream {
    /// Keys present, whatever their values; a wrong value is not also "missing".
    pub(crate) seen: Vec<String>,
    pub(crate) anchor: Span,
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) path: Option<Spanned<String>>,
    pub(crate) reference: Option<Spanned<String>>,
}

#[derive(Debug)]
pub(crate) struct RawSeries {
    /// Keys present, whatever their values; a wrong value is not also "missing".
    pub(crate) seen: Vec<String>,
    pub(crate) anchor: Span,
    pub(crate) branch: Option<Spanned<String>>,
    pub(crate) dir: Option<Spanned<String>>,
    pub(crate) base: Option<Spanned<String>>,
}

#[derive(Debug)]
pub(crate) struct RawTest {
    /// Keys present, whatever their values; a wrong value is not also "missing".
    pub(crate) seen: Vec<String>,
    pub(crate) anchor: Span,
    pub(crate) command: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) sbatch_args: Vec<Spanned<String>>,
}

#[derive(Debug)]
pub(crate) struct RawFeature {
    pub(crate) name: Spanned<String>,
    pub(crate) description: Option<Spanned<String>>,
    pub(crate) deadline: Option<Spanned<String>>,
    pub(crate) tracking: Option<Spanned<String>>,
    pub(crate) patches: Vec<(Spanned<String>, Vec<Spanned<String>>)>,
}

const TOP_KEYS: &[&str] = &["workspace", "executor", "notify", "project", "feature"];
const NOTIFY_KEYS: &[&str] = &["webhooks", "chat"];
const EXECUTOR_KEYS: &[&str] = &["kind", "partition", "shared-dir", "sbatch-args"];
const WORKSPACE_KEYS: &[&str] = &[
    "name",
    "max-patch-age",
    "test-timeout",
    "test-log-limit",
    "timezone",
];
const PROJECT_KEYS: &[&str] = &["repo", "upstream", "series", "consumes", "test"];
const UPSTREAM_KEYS: &[&str] = &["url", "path", "ref"];
const SERIES_KEYS: &[&str] = &["branch", "dir", "base"];
const TEST_KEYS: &[&str] = &["command", "timeout", "sbatch-args"];
const FEATURE_KEYS: &[&str] = &["description", "deadline", "tracking", "patches"];

/// Walks a parsed document, collecting shape problems into `diagnostics`.
pub(crate) struct Walker<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// One `key = value` of a table, inline or not.
struct Entry<'d> {
    key: &'d str,
    key_span: Span,
    item: &'d Item,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            text,
            diagnostics: Vec::new(),
        }
    }

    pub(crate) fn location(&self, span: Span) -> Location {
        Location::from_span(self.file, self.text, span)
    }

    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        let diagnostic = Diagnostic::error(message).at(self.location(span));
        self.diagnostics.push(diagnostic);
        self.diagnostics
            .last_mut()
            .expect("a diagnostic was pushed just above")
    }

    pub(crate) fn walk(&mut self, root: &Item) -> RawManifest {
        let mut raw = RawManifest::default();
        let Some(entries) = Self::entries(root) else {
            return raw;
        };
        for entry in entries {
            match entry.key {
                "workspace" => raw.workspace = self.workspace(&entry),
                "executor" => raw.executor = self.executor(&entry),
                "notify" => raw.notify = self.notify(&entry),
                "project" => {
                    for project in self.named_tables(&entry, "project") {
                        raw.projects.push(self.project(project));
                    }
                }
                "feature" => {
                    for feature in self.named_tables(&entry, "feature") {
                        raw.features.push(self.feature(feature));
                    }
                }
                _ => self.unknown_key(&entry, TOP_KEYS, "the top level"),
            }
        }
        raw
    }

    fn entries<'d>(item: &'d Item) -> Option<Vec<Entry<'d>>> {
        let pairs: Vec<(&'d Key, &'d Item)> = match item {
            Item::Table(table) => table
                .iter()
                .filter_map(|(key, _)| table.get_key_value(key))
                .collect(),
            Item::Value(Value::InlineTable(table)) => table
                .iter()
                .filter_map(|(key, _)| table.get_key_value(key))
                .collect(),
            _ => return None,
        };
        Some(
            pairs
                .into_iter()
                .map(|(key, item)| Entry {
                    key: key.get(),
                    key_span: key.span().unwrap_or(0..0),
                    item,
                })
                .collect(),
        )
    }

    fn span_of(entry: &Entry<'_>) -> Span {
        entry.item.span().unwrap_or_else(|| entry.key_span.clone())
    }

    fn expect_table<'d>(&mut self, entry: &Entry<'d>, context: &str) -> Option<Vec<Entry<'d>>> {
        let entries = Self::entries(entry.item);
        if entries.is_none() {
            let found = describe(entry.item);
            self.error(
                Self::span_of(entry),
                format!("'{context}' must be a table, found {found}"),
            )
            .label = Some("expected a table".to_owned());
        }
        entries
    }

    fn unknown_key(&mut self, entry: &Entry<'_>, allowed: &[&str], context: &str) {
        let suggestion = did_you_mean(entry.key, allowed.iter().copied());
        let message = match suggestion {
            Some(near) => format!(
                "unknown key '{}' in {context}, did you mean '{near}'?",
                entry.key
            ),
            None => format!("unknown key '{}' in {context}", entry.key),
        };
        let help = format!("the keys of {context} are: {}", allowed.join(", "));
        self.error(entry.key_span.clone(), message)
            .with_label_mut("unknown key")
            .help = Some(help);
    }

    fn string(&mut self, entry: &Entry<'_>, context: &str) -> Option<Spanned<String>> {
        match entry.item {
            Item::Value(Value::String(s)) => Some(Spanned {
                value: s.value().clone(),
                span: Self::span_of(entry),
            }),
            other => {
                let found = describe(other);
                self.error(
                    Self::span_of(entry),
                    format!("'{context}.{}' must be a string, found {found}", entry.key),
                )
                .with_label_mut("expected a string");
                None
            }
        }
    }

    fn string_array(&mut self, entry: &Entry<'_>, context: &str) -> Vec<Spanned<String>> {
        let Item::Value(Value::Array(array)) = entry.item else {
            let found = describe(entry.item);
            self.error(
                Self::span_of(entry),
                format!(
                    "'{context}.{}' must be an array of strings, found {found}",
                    entry.key
                ),
            )
            .with_label_mut("expected an array");
            return Vec::new();
        };
        let mut strings = Vec::new();
        for value in array {
            let span = value.span().unwrap_or_else(|| Self::span_of(entry));
            if let Value::String(s) = value {
                strings.push(Spanned {
                    value: s.value().clone(),
                    span,
                });
            } else {
                self.error(
                    span,
                    format!(
                        "'{context}.{}' must hold strings, found {}",
                        entry.key,
                        describe_value(value)
                    ),
                )
                .with_label_mut("expected a string");
            }
        }
        strings
    }

    /// `[project.NAME]` and `[feature.NAME]`: a table of tables.
    fn named_tables<'d>(
        &mut self,
        entry: &Entry<'d>,
        kind: &str,
    ) -> Vec<(Spanned<String>, Vec<Entry<'d>>, Span)> {
        let Some(entries) = self.expect_table(entry, kind) else {
            return Vec::new();
        };
        let mut tables = Vec::new();
        for named in entries {
            let name = Spanned {
                value: named.key.to_owned(),
                span: named.key_span.clone(),
            };
            let context = format!("{kind}.{}", quote_key(named.key));
            if let Some(fields) = self.expect_table(&named, &context) {
                tables.push((name, fields, named.key_span.clone()));
            }
        }
        tables
    }

    fn workspace(&mut self, entry: &Entry<'_>) -> Option<RawWorkspace> {
        let fields = self.expect_table(entry, "workspace")?;
        let mut raw = RawWorkspace {
            seen: fields.iter().map(|f| f.key.to_owned()).collect(),
            anchor: entry.key_span.clone(),
            ..RawWorkspace::default()
        };
        for field in fields {
            match field.key {
                "name" => raw.name = self.string(&field, "workspace"),
                "max-patch-age" => raw.max_patch_age = self.string(&field, "workspace"),
                "test-timeout" => raw.test_timeout = self.string(&field, "workspace"),
                "timezone" => raw.timezone = self.string(&field, "workspace"),
                "test-log-limit" => raw.test_log_limit = self.string(&field, "workspace"),
                _ => self.unknown_key(&field, WORKSPACE_KEYS, "[workspace]"),
            }
        }
        Some(raw)
    }

    fn executor(&mut self, entry: &Entry<'_>) -> Option<RawExecutor> {
        let fields = self.expect_table(entry, "executor")?;
        let mut raw = RawExecutor {
            anchor: entry.key_span.clone(),
            ..RawExecutor::default()
        };
        for field in fields {
            match field.key {
                "kind" => raw.kind = self.string(&field, "executor"),
                "partition" => raw.partition = self.string(&field, "executor"),
                "shared-dir" => raw.shared_dir = self.string(&field, "executor"),
                "sbatch-args" => raw.sbatch_args = self.string_array(&field, "executor"),
                _ => self.unknown_key(&field, EXECUTOR_KEYS, "[executor]"),
            }
        }
        Some(raw)
    }

    fn notify(&mut self, entry: &Entry<'_>) -> Option<RawNotify> {
        let fields = self.expect_table(entry, "notify")?;
        let mut raw = RawNotify::default();
        for field in fields {
            match field.key {
                "webhooks" => raw.webhooks = self.string_array(&field, "notify"),
                "chat" => raw.chat = self.string_array(&field, "notify"),
                _ => self.unknown_key(&field, NOTIFY_KEYS, "[notify]"),
            }
        }
        Some(raw)
    }

    fn project(
        &mut self,
        (name, fields, _anchor): (Spanned<String>, Vec<Entry<'_>>, Span),
    ) -> RawProject {
        let context = format!("project.{}", quote_key(&name.value));
        let mut raw = RawProject {
            seen: fields.iter().map(|f| f.key.to_owned()).collect(),
            name,
            repo: None,
            upstream: None,
            series: None,
            consumes: Vec::new(),
            test: None,
        };
        for field in fields {
            match field.key {
                "repo" => raw.repo = self.string(&field, &context),
                "upstream" => raw.upstream = self.upstream(&field, &context),
                "series" => raw.series = self.series(&field, &context),
                "consumes" => raw.consumes = self.string_array(&field, &context),
                "test" => raw.test = self.test(&field, &context),
                _ => self.unknown_key(&field, PROJECT_KEYS, &format!("[{context}]")),
            }
        }
        raw
    }

    fn upstream(&mut self, entry: &Entry<'_>, project: &str) -> Option<RawUpstream> {
        let context = format!("{project}.upstream");
        let fields = self.expect_table(entry, &context)?;
        let mut raw = RawUpstream {
            seen: fields.iter().map(|f| f.key.to_owned()).collect(),
            anchor: entry.key_span.clone(),
            url: None,
            path: None,
            reference: None,
        };
        for field in fields {
            match field.key {
                "url" => raw.url = self.string(&field, &context),
                "path" => raw.path = self.string(&field, &context),
                "ref" => raw.reference = self.string(&field, &context),
                _ => self.unknown_key(&field, UPSTREAM_KEYS, &context),
            }
        }
        Some(raw)
    }

    fn series(&mut self, entry: &Entry<'_>, project: &str) -> Option<RawSeries> {
        let context = format!("{project}.series");
        let fields = self.expect_table(entry, &context)?;
        let mut raw = RawSeries {
            seen: fields.iter().map(|f| f.key.to_owned()).collect(),
            anchor: entry.key_span.clone(),
            branch: None,
            dir: None,
            base: None,
        };
        for field in fields {
            match field.key {
                "branch" => raw.branch = self.string(&field, &context),
                "dir" => raw.dir = self.string(&field, &context),
                "base" => raw.base = self.string(&field, &context),
                _ => self.unknown_key(&field, SERIES_KEYS, &context),
            }
        }
        Some(raw)
    }

    fn test(&mut self, entry: &Entry<'_>, project: &str) -> Option<RawTest> {
        let context = format!("{project}.test");
        if let Item::Value(Value::String(command)) = entry.item {
            return Some(RawTest {
                seen: vec!["command".to_owned()],
                anchor: entry.key_span.clone(),
                command: Some(Spanned {
                    value: command.value().clone(),
                    span: Self::span_of(entry),
                }),
                timeout: None,
                sbatch_args: Vec::new(),
            });
        }
        let Some(fields) = Self::entries(entry.item) else {
            let found = describe(entry.item);
            self.error(
                Self::span_of(entry),
                format!("'{context}' must be a command string or a table, found {found}"),
            )
            .with_label_mut("expected a string or a table");
            return None;
        };
        let mut raw = RawTest {
            seen: fields.iter().map(|f| f.key.to_owned()).collect(),
            anchor: entry.key_span.clone(),
            command: None,
            timeout: None,
            sbatch_args: Vec::new(),
        };
        for field in fields {
            match field.key {
                "command" => raw.command = self.string(&field, &context),
                "timeout" => raw.timeout = self.string(&field, &context),
                "sbatch-args" => raw.sbatch_args = self.string_array(&field, &context),
                _ => self.unknown_key(&field, TEST_KEYS, &context),
            }
        }
        Some(raw)
    }

    fn feature(
        &mut self,
        (name, fields, _anchor): (Spanned<String>, Vec<Entry<'_>>, Span),
    ) -> RawFeature {
        let context = format!("feature.{}", quote_key(&name.value));
        let mut raw = RawFeature {
            name,
            description: None,
            deadline: None,
            tracking: None,
            patches: Vec::new(),
        };
        for field in fields {
            match field.key {
                "description" => raw.description = self.string(&field, &context),
                "tracking" => raw.tracking = self.string(&field, &context),
                "deadline" => raw.deadline = self.date(&field, &context),
                "patches" => {
                    let patches_context = format!("{context}.patches");
                    if let Some(entries) = self.expect_table(&field, &patches_context) {
                        for patch in entries {
                            let needs = self.string_array(&patch, &patches_context);
                            raw.patches.push((
                                Spanned {
                                    value: patch.key.to_owned(),
                                    span: patch.key_span.clone(),
                                },
                                needs,
                            ));
                        }
                    }
                }
                _ => self.unknown_key(&field, FEATURE_KEYS, &format!("[{context}]")),
            }
        }
        raw
    }

    /// A date may be written as a TOML date (`2027-03-31`) or a string (`"2027-03-31"`).
    fn date(&mut self, entry: &Entry<'_>, context: &str) -> Option<Spanned<String>> {
        if let Item::Value(Value::Datetime(datetime)) = entry.item {
            return Some(Spanned {
                value: datetime.value().to_string(),
                span: Self::span_of(entry),
            });
        }
        self.string(entry, context)
    }
}

trait DiagnosticExt {
    fn with_label_mut(&mut self, label: &str) -> &mut Self;
}

impl DiagnosticExt for Diagnostic {
    fn with_label_mut(&mut self, label: &str) -> &mut Self {
        self.label = Some(label.to_owned());
        self
    }
}

fn quote_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

fn describe(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(value) => describe_value(value),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}
