//! Delivering a stored report: a webhook (JSON summary + link, Slack-compatible `text`), email over
//! SMTP (STARTTLS by default; HTML body, Markdown text alternative) and a directory of files. Each
//! channel is tried `delivery.attempts` times with doubling backoff, counted once in
//! `scimdrift_report_deliveries_total{channel,result}`, and logged without secrets.

use std::time::Duration;

use serde::Serialize;

use super::config::{DeliveryConfig, EmailConfig, ReportConfig, WebhookFormat};
use super::model::{Report, Summary};
use super::{ReportFormat, render};
use crate::metrics::Metrics;
use crate::secret::Secret;

/// Longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Webhook,
    Email,
    Directory,
}

impl Channel {
    /// The `channel` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
            Channel::Directory => "directory",
        }
    }
}

/// How one channel fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryResult {
    pub channel: Channel,
    pub ok: bool,
    /// Tries made (1 when the first succeeded).
    pub attempts: u32,
    /// The last error, without secrets.
    pub error: Option<String>,
}

/// The webhook's JSON body in the `slack` format: the summary as Block Kit blocks, with `text` as
/// the notification's fallback, and the report's facts for other readers.
#[derive(Debug, Serialize)]
struct WebhookPayload<'a> {
    /// Slack-compatible one-paragraph summary (Slack, Mattermost, Rocket.Chat read `text`).
    text: String,
    /// Slack Block Kit: a header, the summary, the warnings, a button to the report.
    blocks: Vec<serde_json::Value>,
    report_version: u32,
    org_id: &'a str,
    date: String,
    generated_at: &'a str,
    /// Link to the report (`report.public_url` + `/report/YYYY-MM-DD`), when configured.
    url: Option<String>,
    summary: &'a Summary,
    warnings: &'a [String],
}

/// Escapes `&`, `<`, `>` as Slack's message format requires.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack Block Kit blocks of the summary (mrkdwn escaped as Slack requires).
fn slack_blocks(report: &Report, url: Option<&str>) -> Vec<serde_json::Value> {
    let mut blocks = vec![
        serde_json::json!({"type": "header", "text": {"type": "plain_text",
            "text": format!("scimdrift report {}", report.date)}}),
        serde_json::json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!("*Org {}*: {}", slack_escape(&report.org_id), slack_escape(&report.headline()))}}),
    ];
    if !report.freshness.warnings.is_empty() {
        let warnings: Vec<serde_json::Value> = report
            .freshness
            .warnings
            .iter()
            .map(|w| serde_json::json!({"type": "mrkdwn", "text": format!(":warning: {}", slack_escape(w))}))
            .take(10)
            .collect();
        blocks.push(serde_json::json!({"type": "context", "elements": warnings}));
    }
    if let Some(u) = url {
        blocks.push(
            serde_json::json!({"type": "actions", "elements": [{"type": "button",
            "text": {"type": "plain_text", "text": "Open the report"}, "url": u}]}),
        );
    }
    blocks
}

/// Text for an Adaptive Card `TextBlock`, its Markdown neutralised (a remote error's text must not
/// turn into a link or emphasis in the card).
fn card_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '~' | '>' | '`' | '-' | '+' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Microsoft Teams message with an Adaptive Card 1.4 (what a Teams Workflows webhook posts):
/// the headline, the warnings, the counts by severity, a button to the report.
fn teams_card(report: &Report, url: Option<&str>) -> serde_json::Value {
    let mut body = vec![
        serde_json::json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
            "text": card_text(&format!("scimdrift report {} (org {})", report.date, report.org_id))}),
        serde_json::json!({"type": "TextBlock", "wrap": true, "text": card_text(&report.headline())}),
    ];
    for w in &report.freshness.warnings {
        body.push(
            serde_json::json!({"type": "TextBlock", "wrap": true, "color": "Warning",
            "text": format!("⚠ {w}")}),
        );
    }
    let facts: Vec<serde_json::Value> = report
        .summary
        .by_severity
        .iter()
        .map(|s| serde_json::json!({"title": s.severity.as_str(), "value": format!("{} open, {} new", s.open, s.new)}))
        .collect();
    body.push(serde_json::json!({"type": "FactSet", "facts": facts}));
    let mut card = serde_json::json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(u) = url {
        card["actions"] =
            serde_json::json!([{"type": "Action.OpenUrl", "title": "Open the report", "url": u}]);
    }
    serde_json::json!({
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}],
    })
}

fn webhook_text(report: &Report, url: Option<&str>) -> String {
    let mut text = format!(
        "*scimdrift report {}* (org {}): {}",
        report.date,
        slack_escape(&report.org_id),
        slack_escape(&report.headline())
    );
    for w in &report.freshness.warnings {
        text.push_str("\n:warning: ");
        text.push_str(&slack_escape(w));
    }
    if let Some(u) = url {
        text.push_str(&format!("\n<{u}|Open the report>"));
    }
    text
}

/// Delivers `report` to every configured channel (none configured: nothing happens).
pub async fn deliver(
    report: &Report,
    config: &ReportConfig,
    metrics: &Metrics,
) -> Vec<DeliveryResult> {
    let d = &config.delivery;
    let mut out = Vec::new();
    if d.webhook_url_env.is_some() || d.webhook_url_file.is_some() {
        let link = config.link(report.date);
        let r = with_retries(Channel::Webhook, d, metrics, || {
            send_webhook(report, d, link.as_deref())
        })
        .await;
        out.push(r);
    }
    if let Some(e) = &d.email {
        let r = with_retries(Channel::Email, d, metrics, || send_email(report, e, d)).await;
        out.push(r);
    }
    if let Some(dir) = &d.directory {
        let r = with_retries(Channel::Directory, d, metrics, || write_files(report, dir)).await;
        out.push(r);
    }
    out
}

/// A failed try: whether another try can help, and what to log.
struct Failure {
    retry: bool,
    message: String,
}

impl Failure {
    fn transient(message: impl Into<String>) -> Failure {
        Failure {
            retry: true,
            message: message.into(),
        }
    }
    fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            retry: false,
            message: message.into(),
        }
    }
}

/// Tries one channel up to `delivery.attempts` times; the outcome is logged and counted here.
async fn with_retries<F, Fut>(
    channel: Channel,
    d: &DeliveryConfig,
    metrics: &Metrics,
    mut attempt: F,
) -> DeliveryResult
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let attempts = d.attempts.max(1);
    let mut delay = Duration::from_millis(d.backoff_ms);
    let mut n = 0;
    loop {
        n += 1;
        let failure = match attempt().await {
            Ok(()) => {
                count(metrics, channel, "success");
                tracing::info!(channel = channel.as_str(), attempt = n, "report delivered");
                return DeliveryResult {
                    channel,
                    ok: true,
                    attempts: n,
                    error: None,
                };
            }
            Err(f) => f,
        };
        if !failure.retry || n >= attempts {
            count(metrics, channel, "failure");
            tracing::error!(
                channel = channel.as_str(),
                attempt = n,
                error = %failure.message,
                "report delivery failed; the report stays stored and served"
            );
            return DeliveryResult {
                channel,
                ok: false,
                attempts: n,
                error: Some(failure.message),
            };
        }
        tracing::warn!(
            channel = channel.as_str(),
            attempt = n,
            error = %failure.message,
            retry_in_ms = delay.as_millis() as u64,
            "report delivery failed; retrying"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

fn count(metrics: &Metrics, channel: Channel, result: &str) {
    metrics
        .report_deliveries
        .with_label_values(&[channel.as_str(), result])
        .inc();
}

fn timeout(d: &DeliveryConfig) -> Duration {
    Duration::try_from_secs_f64(d.timeout_seconds).unwrap_or(Duration::from_secs(30))
}

/// The webhook's body in `format` for `report`, `link` the report's URL when configured.
pub fn webhook_payload(
    report: &Report,
    format: WebhookFormat,
    link: Option<&str>,
) -> serde_json::Value {
    match format {
        WebhookFormat::Slack => serde_json::to_value(WebhookPayload {
            text: webhook_text(report, link),
            blocks: slack_blocks(report, link),
            report_version: report.report_version,
            org_id: &report.org_id,
            date: report.date.to_string(),
            generated_at: &report.generated_at,
            url: link.map(String::from),
            summary: &report.summary,
            warnings: &report.freshness.warnings,
        })
        .unwrap_or_default(),
        WebhookFormat::Teams => teams_card(report, link),
        WebhookFormat::Json => serde_json::to_value(report).unwrap_or_default(),
    }
}

async fn send_webhook(
    report: &Report,
    d: &DeliveryConfig,
    link: Option<&str>,
) -> Result<(), Failure> {
    let url: Secret = d
        .webhook_url()
        .map_err(|(k, m)| Failure::permanent(format!("report.{k}: {m}")))?
        .ok_or_else(|| Failure::permanent("no webhook URL configured"))?;
    let payload = webhook_payload(report, d.webhook_format, link);
    let client = reqwest::Client::builder()
        .timeout(timeout(d))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("scimdrift/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            Failure::permanent(format!("cannot build the HTTP client: {}", e.without_url()))
        })?;
    // Errors never carry the URL: it holds the webhook's token.
    let response = client
        .post(url.expose())
        .json(&payload)
        .send()
        .await
        .map_err(|e| Failure::transient(format!("webhook request failed: {}", e.without_url())))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(Failure::transient(format!(
            "webhook answered HTTP {}",
            status.as_u16()
        )))
    } else {
        Err(Failure::permanent(format!(
            "webhook answered HTTP {}",
            status.as_u16()
        )))
    }
}

fn email_message(report: &Report, e: &EmailConfig) -> Result<lettre::Message, Failure> {
    use lettre::message::{Mailbox, MultiPart};
    let bad =
        |what: &str, err: &dyn std::fmt::Display| Failure::permanent(format!("{what}: {err}"));
    let from: Mailbox = e
        .from
        .parse()
        .map_err(|x| bad("report.delivery.email.from", &x))?;
    let mut builder = lettre::Message::builder().from(from).subject(format!(
        "scimdrift report {} ({}): {}",
        report.date,
        report.org_id,
        report.headline()
    ));
    for to in &e.to {
        builder = builder.to(to
            .parse()
            .map_err(|x| bad("report.delivery.email.to", &x))?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            render(report, ReportFormat::Markdown),
            render(report, ReportFormat::Html),
        ))
        .map_err(|x| bad("cannot build the email", &x))
}

async fn send_email(report: &Report, e: &EmailConfig, d: &DeliveryConfig) -> Result<(), Failure> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let message = email_message(report, e)?;
    let mut builder = if e.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&e.host)
            .map_err(|x| Failure::permanent(format!("SMTP {}: {x}", e.host)))?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&e.host)
    };
    builder = builder.port(e.port).timeout(Some(timeout(d)));
    let password = e
        .password()
        .map_err(|(k, m)| Failure::permanent(format!("report.delivery.email.{k}: {m}")))?;
    if let (Some(user), Some(password)) = (&e.username, password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    let transport = builder.build();
    match transport.send(message).await {
        Ok(_) => Ok(()),
        // lettre's errors name the server's answer, never the credentials.
        Err(x) if x.is_permanent() => Err(Failure::permanent(format!(
            "SMTP {}:{} refused the message: {x}",
            e.host, e.port
        ))),
        Err(x) => Err(Failure::transient(format!(
            "SMTP {}:{}: {x}",
            e.host, e.port
        ))),
    }
}

/// Writes the four formats into `dir` (created if missing), each atomically (temp file + rename).
async fn write_files(report: &Report, dir: &std::path::Path) -> Result<(), Failure> {
    let fail = |what: String| Failure::transient(what);
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|x| fail(format!("cannot create {}: {x}", dir.display())))?;
    for format in ReportFormat::ALL {
        let path = dir.join(format.file_name(report.date));
        let tmp = dir.join(format!(".{}.tmp", format.file_name(report.date)));
        tokio::fs::write(&tmp, render(report, format))
            .await
            .map_err(|x| fail(format!("cannot write {}: {x}", tmp.display())))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|x| fail(format!("cannot write {}: {x}", path.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_text_neutralises_markdown() {
        assert_eq!(
            card_text("see [here](https://evil.example)"),
            "see \\[here\\]\\(https://evil.example\\)"
        );
        assert_eq!(card_text("a_b*c"), "a\\_b\\*c");
    }

    #[test]
    fn slack_text_is_escaped() {
        assert_eq!(slack_escape("<a&b>"), "&lt;a&amp;b&gt;");
    }
}
