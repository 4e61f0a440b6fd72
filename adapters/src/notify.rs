//! Posting a JSON body to webhooks: a few tries with backoff, each with a short timeout, and
//! never more than a warning when a receiver is down (a notification must not fail a run).

use std::time::Duration;

/// How one delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Where (credentials in the URL redacted).
    pub url: String,
    /// How many tries it took; `None` when every try failed.
    pub tries: Option<u32>,
    /// The last failure, if any.
    pub error: Option<String>,
}

/// Tries per webhook, and the wait before the first retry (doubled each time).
const TRIES: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Posts `body` (JSON) to `url`, retrying on a failure or a 5xx/429 answer.
pub fn post_json(url: &str, body: &serde_json::Value, timeout: Duration) -> Delivery {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let shown = carry_graph::redact::urls_in_text(url).into_owned();
    let mut backoff = FIRST_BACKOFF;
    let mut last = None;
    for attempt in 1..=TRIES {
        match agent
            .post(url)
            .header("user-agent", concat!("carry/", env!("CARGO_PKG_VERSION")))
            .send_json(body)
        {
            Ok(response) if response.status().is_success() => {
                return Delivery {
                    url: shown,
                    tries: Some(attempt),
                    error: None,
                };
            }
            Ok(response) => {
                let status = response.status();
                last = Some(format!("answered {status}"));
                // A 4xx other than 429 will not change by asking again.
                if status.is_client_error() && status.as_u16() != 429 {
                    break;
                }
            }
            Err(error) => last = Some(error.to_string()),
        }
        if attempt < TRIES {
            std::thread::sleep(backoff);
            backoff *= 2;
        }
    }
    tracing::warn!(url = %shown, error = ?last, "a notification was not delivered");
    Delivery {
        url: shown,
        tries: None,
        error: last,
    }
}
