//! JSON over HTTP (Slack, Webex, generic webhooks), through ureq and rustls.

use std::time::Duration;

/// POSTs `body`; `HTTP <status>` when the receiver accepts it. Errors never
/// include the URL, which for Slack is the secret.
pub fn post_json(
    url: &str,
    body: &serde_json::Value,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(true)
        .build()
        .into();
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send_json(body) {
        Ok(response) => Ok(format!("HTTP {}", response.status().as_u16())),
        Err(err) => Err(describe(err, timeout)),
    }
}

fn describe(err: ureq::Error, timeout: Duration) -> String {
    match err {
        ureq::Error::StatusCode(code) => format!("HTTP {code}"),
        ureq::Error::Timeout(_) => format!("timed out after {} s", timeout.as_secs()),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            format!("timed out after {} s", timeout.as_secs())
        }
        ureq::Error::Io(io) => io.to_string(),
        ureq::Error::BadUri(_) => "the URL is invalid".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Rustls(tls) => format!("TLS: {tls}"),
        ureq::Error::Tls(tls) => format!("TLS: {tls}"),
        other => format!("HTTP request failed: {other}"),
    }
}
