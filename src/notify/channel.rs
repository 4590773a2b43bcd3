//! `[[notify]]` entries: what each kind needs, checked when the file is
//! read, and where an event goes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::{Event, email, http, process};

/// The kinds of channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Slack,
    Webex,
    Webhook,
    Command,
    Email,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Slack => "slack",
            Kind::Webex => "webex",
            Kind::Webhook => "webhook",
            Kind::Command => "command",
            Kind::Email => "email",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `[[notify]]` entry as written. Which keys a kind needs is checked by
/// [`ChannelConfig::channel`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub kind: Kind,
    /// How messages and the audit trail name it [default: the kind and its number].
    pub name: Option<String>,
    /// Only events in these environments [default: all].
    #[serde(default)]
    pub envs: Vec<String>,
    /// Only these operations, or groups of them (`user`, `user.create`) [default: all].
    #[serde(default)]
    pub operations: Vec<String>,
    /// How long a delivery may take [default: 5s].
    #[serde(default, deserialize_with = "crate::config::delivery_timeout")]
    pub timeout: Option<Duration>,
    /// slack: the incoming-webhook URL; webhook: where to POST; webex: the
    /// messages API [default: <https://webexapis.com/v1/messages>].
    pub url: Option<String>,
    /// webhook: extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// webhook: extra headers whose values are in environment variables.
    #[serde(default)]
    pub headers_from_env: BTreeMap<String, String>,
    /// webex: the room to post in.
    pub room_id: Option<String>,
    /// webex: the environment variable that holds the bot's token.
    pub token_env: Option<String>,
    /// command: the program, given the event as JSON on stdin.
    pub program: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// email: the SMTP server.
    pub host: Option<String>,
    #[serde(default, deserialize_with = "crate::config::optional_port")]
    pub port: Option<u16>,
    /// email: upgrade the connection with STARTTLS [default: true].
    pub starttls: Option<bool>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    pub user: Option<String>,
    /// email: the environment variable that holds the SMTP password.
    pub password_env: Option<String>,
}

/// Where one channel sends, ready to use.
#[derive(Debug, Clone)]
pub enum Target {
    Slack {
        url: String,
    },
    Webex {
        url: String,
        room_id: String,
        token_env: String,
    },
    Webhook {
        url: String,
        headers: BTreeMap<String, String>,
        headers_from_env: BTreeMap<String, String>,
    },
    Command {
        program: String,
        args: Vec<String>,
    },
    Email(email::Smtp),
}

/// A configured channel.
#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub kind: Kind,
    pub timeout: Duration,
    envs: Vec<String>,
    operations: Vec<String>,
    target: Target,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const WEBEX_MESSAGES: &str = "https://webexapis.com/v1/messages";

impl ChannelConfig {
    /// The channel this entry describes (the `number`th, from 1), or which
    /// key it lacks.
    pub fn channel(&self, number: usize) -> Result<Channel, String> {
        let need = |value: &Option<String>, key: &str| {
            value.clone().ok_or_else(|| format!("`{key}` is required for kind {}", self.kind))
        };
        let url = |default: Option<&str>| {
            let url = self
                .url
                .as_deref()
                .or(default)
                .ok_or_else(|| format!("`url` is required for kind {}", self.kind))?;
            if url.starts_with("https://") || url.starts_with("http://") {
                Ok(url.to_owned())
            } else {
                Err("`url` must start with https:// or http://".to_owned())
            }
        };
        let target = match self.kind {
            Kind::Slack => Target::Slack { url: url(None)? },
            Kind::Webex => Target::Webex {
                url: url(Some(WEBEX_MESSAGES))?,
                room_id: need(&self.room_id, "room_id")?,
                token_env: need(&self.token_env, "token_env")?,
            },
            Kind::Webhook => Target::Webhook {
                url: url(None)?,
                headers: self.headers.clone(),
                headers_from_env: self.headers_from_env.clone(),
            },
            Kind::Command => Target::Command {
                program: need(&self.program, "program")?,
                args: self.args.clone(),
            },
            Kind::Email => {
                if self.to.is_empty() {
                    return Err("`to` is required for kind email".into());
                }
                Target::Email(email::Smtp {
                    host: need(&self.host, "host")?,
                    port: self.port,
                    starttls: self.starttls.unwrap_or(true),
                    from: need(&self.from, "from")?,
                    to: self.to.clone(),
                    user: self.user.clone(),
                    password_env: self.password_env.clone(),
                })
            }
        };
        Ok(Channel {
            name: self.name.clone().unwrap_or_else(|| format!("{}-{number}", self.kind)),
            kind: self.kind,
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            envs: self.envs.clone(),
            operations: self.operations.clone(),
            target,
        })
    }
}

impl Channel {
    /// True when the channel's filters let `event` through.
    pub fn wants(&self, event: &Event) -> bool {
        let env_ok =
            self.envs.is_empty() || event.envs().iter().any(|e| self.envs.iter().any(|w| w == e));
        let op_ok = self.operations.is_empty()
            || self.operations.iter().any(|op| {
                event.operation == *op
                    || event
                        .operation
                        .strip_prefix(op.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            });
        env_ok && op_ok
    }

    /// Delivers `event`; what the receiver said, or why it failed. Never
    /// mentions a URL, a token or a password: Slack's webhook URLs are secrets.
    pub fn send(&self, event: &Event) -> Result<String, String> {
        match &self.target {
            Target::Slack { url } => http::post_json(
                url,
                &serde_json::json!({ "text": event.text() }),
                &[],
                self.timeout,
            ),
            Target::Webex { url, room_id, token_env } => {
                let token = std::env::var(token_env).map_err(|_| {
                    format!("the environment variable {token_env} (the webex token) is not set")
                })?;
                let body = serde_json::json!({ "roomId": room_id, "text": event.text() });
                let auth = ("Authorization".to_owned(), format!("Bearer {token}"));
                http::post_json(url, &body, &[auth], self.timeout)
            }
            Target::Webhook { url, headers, headers_from_env } => {
                let mut all: Vec<(String, String)> = headers.clone().into_iter().collect();
                for (header, variable) in headers_from_env {
                    let value = std::env::var(variable).map_err(|_| {
                        format!("the environment variable {variable} (header {header}) is not set")
                    })?;
                    all.push((header.clone(), value));
                }
                http::post_json(
                    url,
                    &serde_json::to_value(event).map_err(|e| e.to_string())?,
                    &all,
                    self.timeout,
                )
            }
            Target::Command { program, args } => process::run(program, args, event, self.timeout),
            Target::Email(smtp) => smtp.send(event, self.timeout),
        }
    }
}
