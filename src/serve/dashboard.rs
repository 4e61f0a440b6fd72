//! The dashboard at `/`: one self-contained page (no network, no external assets) for a wall
//! screen: the graph, the last run per project and feature, the debt list overdue first, and a
//! run's progress live while it runs.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;
use carry_orchestrator::report::Outcome;
use carry_orchestrator::report::TestStatus;

use super::AppState;
use super::api::blocking;
use super::api::load;
use super::error::ApiError;
use super::svg::escape;
use super::svg::outcome;

pub(crate) const STYLE: &str = r"
:root { color-scheme: light; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --bg: #f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, Segoe UI, sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 1.2rem; padding: 1rem 1.6rem; background: #0f172a; color: #f8fafc; }
header h1 { margin: 0; font-size: 1.4rem; letter-spacing: .02em; }
header .status { padding: .15rem .7rem; border-radius: 999px; font-weight: 600; font-size: .9rem; }
.status.clean { background: #16a34a; } .status.attention { background: #dc2626; } .status.none { background: #475569; }
header .meta { color: #cbd5e1; font-size: .9rem; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1.2rem; padding: 1.2rem 1.6rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 1rem 1.2rem; overflow: auto; }
section h2 { margin: 0 0 .7rem; font-size: 1.05rem; color: #1e293b; }
.wide { grid-column: 1 / -1; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; }
.pill { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: .8rem; font-weight: 600; }
.good { background: #dcfce7; color: #166534; } .bad { background: #fee2e2; color: #991b1b; }
.warn { background: #fef3c7; color: #92400e; } .same, .none { background: #f1f5f9; color: #475569; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
#progress { font: 13px ui-monospace, monospace; white-space: pre-wrap; max-height: 16rem; overflow: auto; color: #334155; }
.muted { color: var(--muted); }
";

const SCRIPT: &str = r"
async function follow() {
  const runs = await (await fetch('/api/v1/runs')).json();
  const box = document.getElementById('progress');
  if (!runs.active) { box.dataset.state = 'idle'; return setTimeout(follow, 5000); }
  box.dataset.state = 'running';
  box.textContent = 'run ' + runs.active + '\n';
  const source = new EventSource('/api/v1/runs/' + runs.active + '/events');
  const started = Date.now();
  source.onmessage = source.onerror = null;
  for (const kind of ['started','fetching','rebasing','patch','reused','test-started','test-finished','resuming','project-done','finished']) {
    source.addEventListener(kind, (e) => {
      const event = JSON.parse(e.data);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      box.textContent += `[${secs}s] ${kind} ${event.project || ''} ${event.name || event.summary || event.status || ''}\n`;
      box.scrollTop = box.scrollHeight;
      if (kind === 'finished') { source.close(); setTimeout(() => location.reload(), 1500); }
    });
  }
}
follow();
";

/// A patch's id, linked to its page.
fn patch_link(id: &carry_graph::PatchRef) -> String {
    let encode = |text: &str| {
        text.bytes().fold(String::new(), |mut out, b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
            out
        })
    };
    format!(
        "<a href=\"/patches/{}/{}\"><code>{}</code></a>",
        encode(id.project.as_str()),
        encode(id.name.as_str()),
        escape(&id.to_string())
    )
}

pub(crate) async fn page(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let active = state.runs.active();
    blocking(move || {
        let workspace = load(&state)?;
        let graph = super::api::workspace_graph(&state, &workspace)?;
        let report = super::runs::last_report(&workspace);
        let debt = carry_orchestrator::debt::debt(&workspace, carry_orchestrator::debt::today()).ok();
        let manifest = &workspace.manifest.workspace;
        let mut html = String::new();
        let (status_class, status_text) = match &report {
            Some(r) => match r.status {
                carry_orchestrator::report::RunStatus::Clean => ("clean", "clean"),
                carry_orchestrator::report::RunStatus::Attention => ("attention", "needs attention"),
            },
            None => ("none", "no run yet"),
        };
        let _ = write!(
            html,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta http-equiv=\"refresh\" content=\"300\"><title>carry · {name}</title><style>{STYLE}</style></head><body>",
            name = escape(&manifest.name)
        );
        let _ = write!(
            html,
            "<header><h1>carry · {}</h1><span class=\"status {status_class}\" id=\"run-status\">{status_text}</span><span class=\"meta\">{}{}</span></header><main>",
            escape(&manifest.name),
            report.as_ref().map_or(String::new(), |r| format!("last run {} · ", escape(&r.run))),
            active.as_ref().map_or("idle".to_owned(), |id| format!("running {}", escape(id)))
        );
        let _ = write!(html, "<section class=\"wide\" id=\"graph\"><h2>Workspace</h2>{}</section>", super::svg::render(manifest, &graph, report.as_ref()));

        html.push_str("<section id=\"projects\"><h2>Last run per project</h2><table><thead><tr><th>project</th><th>series</th><th>test</th><th>needs attention</th></tr></thead><tbody>");
        for name in graph.stages().iter().flatten() {
            let (class, state_text) = outcome(report.as_ref(), name.as_str());
            let project = report.as_ref().and_then(|r| r.projects.iter().find(|p| &p.name == name));
            let test = project.map_or("–".to_owned(), |p| {
                let time = p.test.duration_ms.map_or(String::new(), |ms| format!(" {:.1}s", ms as f64 / 1000.0));
                format!("{}{time}", serde_json::to_value(p.test.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
            });
            let mut problems = String::new();
            for patch in project.map(|p| p.patches.as_slice()).unwrap_or_default() {
                match &patch.outcome {
                    Outcome::Conflict { paths, first_bad, .. } => {
                        let _ = write!(problems, "<div><span class=\"pill bad\">conflict</span> {} in <code>{}</code>{}</div>", patch_link(&patch.id), escape(&paths.join(", ")), first_bad.as_deref().map_or(String::new(), |c| format!(" <span class=\"muted\">since {}</span>", &c[..12.min(c.len())])));
                    }
                    Outcome::Blocked { blocked_by } => {
                        let _ = write!(problems, "<div><span class=\"pill warn\">blocked</span> <code>{}</code> <span class=\"muted\">by {}</span></div>", escape(&patch.id.to_string()), escape(&blocked_by.join(", ")));
                    }
                    Outcome::Landed { .. } => {
                        let _ = write!(problems, "<div><span class=\"pill good\">landed</span> <code>{}</code></div>", escape(&patch.id.to_string()));
                    }
                    Outcome::Error { problem } => {
                        let _ = write!(problems, "<div><span class=\"pill bad\">error</span> <code>{}</code> <span class=\"muted\">{}:{}: {}</span></div>", escape(&patch.id.to_string()), escape(&problem.file), problem.line, escape(&problem.reason));
                    }
                    Outcome::Dropped { reason } => {
                        let _ = write!(problems, "<div><span class=\"pill warn\">dropped</span> <code>{}</code> <span class=\"muted\">{}</span></div>", escape(&patch.id.to_string()), escape(reason));
                    }
                    Outcome::Applied { .. } => {
                        if let Some(resolution) = &patch.resolution {
                            let review = if patch.review == Some(carry_orchestrator::report::ReviewState::Required) { " <span class=\"pill warn\">review required</span>" } else { "" };
                            let _ = write!(problems, "<div><span class=\"pill good\">resolved</span> {} <span class=\"muted\">with {}</span>{review}</div>", patch_link(&patch.id), escape(resolution));
                        }
                    }
                }
            }
            if let Some(p) = project.filter(|p| matches!(p.test.status, TestStatus::Failed | TestStatus::Timeout)) {
                let _ = write!(problems, "<div><span class=\"pill bad\">test</span> <code>{}</code></div>", escape(&p.test.log_tail.iter().rev().take(3).rev().cloned().collect::<Vec<_>>().join(" ⏎ ")));
            }
            let _ = write!(
                html,
                "<tr class=\"project-row\" data-project=\"{n}\"><td><b>{n}</b></td><td><span class=\"pill {class}\">{}</span></td><td>{}</td><td>{problems}</td></tr>",
                escape(&state_text),
                escape(&test),
                n = escape(name.as_str())
            );
        }
        html.push_str("</tbody></table></section>");

        html.push_str("<section id=\"features\"><h2>Features</h2><table><thead><tr><th>feature</th><th>status</th><th>deadline</th></tr></thead><tbody>");
        for feature in manifest.features.values() {
            let (class, text) = match report.as_ref().and_then(|r| r.features.iter().find(|f| f.name == feature.name)) {
                None => ("none", "no run yet".to_owned()),
                Some(f) => match f.status {
                    carry_orchestrator::report::FeatureStatus::Ok => ("good", "ok".to_owned()),
                    carry_orchestrator::report::FeatureStatus::AtRisk => ("warn", "at risk".to_owned()),
                    carry_orchestrator::report::FeatureStatus::Blocked => ("bad", format!("blocked by {}", f.blocked_by.join(", "))),
                },
            };
            let _ = write!(
                html,
                "<tr><td><b>{}</b><div class=\"muted\">{}</div></td><td><span class=\"pill {class}\">{}</span></td><td>{}</td></tr>",
                escape(feature.name.as_str()),
                escape(feature.description.as_deref().unwrap_or("")),
                escape(&text),
                feature.deadline.map_or("–".to_owned(), |d| d.to_string())
            );
        }
        html.push_str("</tbody></table><h2 style=\"margin-top:1rem\">Progress</h2><div id=\"progress\" class=\"muted\">idle</div></section>");

        let furthest = state.furthest.lock().ok().and_then(|slot| slot.clone());
        if let Some(snapshot) = furthest {
            let _ = write!(html, "<section class=\"wide\" id=\"furthest\"><h2>How far each upstream can move <span class=\"muted\">(computed {})</span></h2><table><thead><tr><th>project</th><th>furthest safe point</th><th>next</th><th>what breaks there</th></tr></thead><tbody>", escape(&snapshot.computed_at));
            for (name, answer) in &snapshot.projects {
                let short = |c: &str| c[..c.len().min(12)].to_owned();
                let point = |p: &carry_orchestrator::furthest::Point| {
                    format!("<code>{}</code>{}", escape(&short(&p.commit)), p.tag.as_deref().map(|t| format!(" <span class=\"muted\">{}</span>", escape(t))).unwrap_or_default())
                };
                match answer {
                    Ok(found) => {
                        let good = found.furthest.as_ref().map_or_else(|| "its base".to_owned(), point);
                        let (next, breaks) = match &found.next {
                            None => ("<span class=\"pill good\">the tip</span>".to_owned(), String::new()),
                            Some(bad) => (point(bad), found.breaks.iter().fold(String::new(), |mut out, b| {
                                let _ = write!(out, "<div><span class=\"pill bad\">{}</span> <code>{}</code></div>", escape(b.outcome), escape(&b.patch));
                                out
                            })),
                        };
                        let _ = write!(html, "<tr><td><b>{}</b></td><td>{good}</td><td>{next}</td><td>{breaks}</td></tr>", escape(name));
                    }
                    Err(why) => {
                        let _ = write!(html, "<tr><td><b>{}</b></td><td colspan=\"3\" class=\"muted\">{}</td></tr>", escape(name), escape(why));
                    }
                }
            }
            html.push_str("</tbody></table></section>");
        }

        html.push_str("<section class=\"wide\" id=\"debt\"><h2>Patch debt, overdue first</h2><table><thead><tr><th></th><th>patch</th><th>age</th><th>deadline</th><th>upstream</th></tr></thead><tbody>");
        for patch in debt.as_ref().map(|d| d.patches.as_slice()).unwrap_or_default() {
            let flag = if patch.overdue {
                "<span class=\"pill bad\">overdue</span>"
            } else if patch.upstream.untracked {
                "<span class=\"pill warn\">untracked</span>"
            } else {
                ""
            };
            let upstream = [patch.upstream.status.as_deref(), patch.upstream.forwarded.as_deref(), patch.upstream.change_id.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
            let _ = write!(
                html,
                "<tr><td>{flag}</td><td><code>{}</code><div class=\"muted\">{}</div></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&patch.id),
                escape(&patch.subject),
                patch.age_days.map_or("?".to_owned(), |d| format!("{d}d")),
                patch.deadline.map_or("–".to_owned(), |d| d.to_string()),
                escape(&upstream)
            );
        }
        html.push_str("</tbody></table></section></main>");
        let _ = write!(html, "<script>{SCRIPT}</script></body></html>");
        Ok(Html(html))
    })
    .await
}
