//! Sending one e-mail over SMTP with lettre, telling apart failures where the message certainly
//! was not accepted (connection refused, a 4xx/5xx reply) from those where it may have been (the
//! connection broke or timed out during the session): only the first kind may be retried without
//! risking a second copy.

use std::time::Duration;

use lettre::Message;
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;

use crate::config::SmtpSettings;
use crate::render::Rendered;

/// Why a send did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Certainly not delivered, may succeed later (connect failed, 4xx reply).
    #[error("temporary failure: {0}")]
    Retry(String),
    /// Certainly not delivered and never will be as is (5xx reply, bad address).
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The session broke off after the message may have been handed over.
    #[error("outcome unknown: {0}")]
    Ambiguous(String),
}

#[derive(Clone)]
pub struct Mailer {
    smtp: SmtpSettings,
    from: Mailbox,
}

/// The message as built for sending.
pub struct Outgoing {
    pub message: Message,
    pub message_id: String,
}

impl Mailer {
    pub fn new(smtp: SmtpSettings, from: Mailbox) -> Self {
        Self { smtp, from }
    }

    /// Builds the multipart (plain text + HTML) message with `Message-ID: <{id}@{domain}>`.
    pub fn build(
        &self,
        to: &str,
        to_name: Option<&str>,
        mail: &Rendered,
        id: &str,
        domain: &str,
    ) -> Result<Outgoing, SendError> {
        let address = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient address `{to}`: {e}")))?;
        let to = Mailbox::new(
            to_name.map(str::to_owned).filter(|n| !n.is_empty()),
            address,
        );
        let message_id = format!("<{id}@{domain}>");
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(message_id.clone()))
            .date_now()
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
        Ok(Outgoing {
            message,
            message_id,
        })
    }

    /// One SMTP session: connect, (authenticate,) send, quit.
    pub async fn send(&self, out: &Outgoing) -> Result<(), SendError> {
        let timeout = Duration::from_millis(self.smtp.timeout_ms);
        let hello = ClientId::Domain(self.smtp.hello_name.clone());
        let connect = AsyncSmtpConnection::connect_tokio1(
            (self.smtp.host.as_str(), self.smtp.port),
            Some(timeout),
            &hello,
            None,
            None,
        );
        // Nothing was handed over before the greeting: every failure here is retryable.
        let mut conn = match tokio::time::timeout(timeout * 2, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(SendError::Retry(format!("connecting: {e}"))),
            Err(_) => return Err(SendError::Retry("connecting: timed out".into())),
        };
        if !self.smtp.username.is_empty() {
            let creds = Credentials::new(
                self.smtp.username.clone(),
                self.smtp.password.expose_secret().to_owned(),
            );
            if let Err(e) = conn
                .auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                .await
            {
                conn.abort().await;
                return Err(if e.is_permanent() {
                    SendError::Permanent(format!("authenticating: {e}"))
                } else {
                    SendError::Retry(format!("authenticating: {e}"))
                });
            }
        }
        let envelope: &Envelope = out.message.envelope();
        let bytes = out.message.formatted();
        let sent = tokio::time::timeout(timeout * 2, conn.send(envelope, &bytes)).await;
        match sent {
            Ok(Ok(_)) => {
                // The server accepted the message; a failing QUIT does not change that.
                let _ = tokio::time::timeout(timeout, conn.quit()).await;
                Ok(())
            }
            // A negative reply: the server did not take the message.
            Ok(Err(e)) if e.is_permanent() => {
                conn.abort().await;
                Err(SendError::Permanent(e.to_string()))
            }
            Ok(Err(e)) if e.is_transient() => {
                conn.abort().await;
                Err(SendError::Retry(e.to_string()))
            }
            Ok(Err(e)) => Err(SendError::Ambiguous(e.to_string())),
            Err(_) => Err(SendError::Ambiguous("the SMTP session timed out".into())),
        }
    }
}
