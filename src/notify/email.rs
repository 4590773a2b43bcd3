//! Email through SMTP (lettre, rustls), with STARTTLS unless told otherwise.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};

use super::Event;

/// An SMTP server and the message's addresses.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: Option<u16>,
    pub starttls: bool,
    pub from: String,
    pub to: Vec<String>,
    pub user: Option<String>,
    /// The environment variable that holds the password.
    pub password_env: Option<String>,
}

impl Smtp {
    /// Mails the event: its line as the subject, the line with the audit
    /// head and the JSON event as the body.
    pub fn send(&self, event: &Event, timeout: Duration) -> Result<String, String> {
        let mut message = Message::builder()
            .from(self.from.parse().map_err(|err| format!("from {}: {err}", self.from))?)
            .subject(event.line())
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.parse().map_err(|err| format!("to {to}: {err}"))?);
        }
        let json = serde_json::to_string_pretty(event).map_err(|err| err.to_string())?;
        let message =
            message.body(format!("{}\n\n{json}\n", event.text())).map_err(|err| err.to_string())?;

        let mut transport = if self.starttls {
            SmtpTransport::starttls_relay(&self.host)
                .map_err(|err| format!("STARTTLS to {}: {err}", self.host))?
        } else {
            SmtpTransport::builder_dangerous(&self.host)
        };
        if let Some(port) = self.port {
            transport = transport.port(port);
        }
        if let Some(user) = &self.user {
            let password = match &self.password_env {
                Some(variable) => std::env::var(variable).map_err(|_| {
                    format!("the environment variable {variable} (the SMTP password) is not set")
                })?,
                None => String::new(),
            };
            transport = transport.credentials(Credentials::new(user.clone(), password));
        }
        let response = transport.timeout(Some(timeout)).build().send(&message).map_err(|err| {
            if err.is_timeout() {
                format!("timed out after {} s", timeout.as_secs())
            } else {
                format!("SMTP: {err}")
            }
        })?;
        Ok(format!("SMTP {}", response.code()))
    }
}
