//! TLS with libpq's meaning of each sslmode, on rustls.
//!
//! | sslmode | encryption | server certificate checked |
//! |---|---|---|
//! | disable | never | - |
//! | allow | only if the server insists | chain, if a root certificate file exists |
//! | prefer | if the server offers it | chain, if a root certificate file exists |
//! | require | always | chain, if a root certificate file exists |
//! | verify-ca | always | chain (the root certificate file must exist) |
//! | verify-full | always | chain and host name |
//!
//! The root certificate file is `sslrootcert`, else `~/.postgresql/root.crt`;
//! as in libpq, a file that does not exist means no verification where
//! that is allowed. `sslrootcert=system` uses the platform's trust store,
//! and only with verify-full. Which attempts `prefer` and `allow` make, and
//! when they fall back, is the connector's business (`connect.rs`); this
//! module says whether a TLS handshake was started.
//!
//! The checks are libpq's (OpenSSL's), not the web's: a certificate
//! without a subjectAltName is checked against its Common Name, and a
//! self-signed server certificate given as the root is accepted
//! ([`certificate`]).

mod certificate;

use std::error::Error as StdError;
use std::future::Future;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

use self::certificate::ServerCertificate;
use super::settings::ConnSettings;
use super::wire::{Watched, Wire};
use crate::registry::{RootCert, SslMode};

/// TLS could not be set up from the settings.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(String);

/// A TLS connector for tokio-postgres with libpq's sslmode semantics.
///
/// A setup problem (a root file that cannot be read, a client key with
/// loose permissions) fails the TLS handshake, not the connection attempt,
/// as in libpq: with `prefer`, against a server that offers no TLS, it
/// does not matter. Each attempt gets its own copy ([`Self::for_attempt`])
/// that tells whether the server took up TLS.
#[derive(Clone)]
pub struct TlsConnector {
    inner: Result<MakeRustlsConnect, TlsSetupError>,
    started: Arc<AtomicBool>,
    /// The protocol of the last full handshake (a resumed one has the
    /// same), as the certificate verifier saw it.
    version: Arc<AtomicU8>,
    /// The connection's watch, for the plain text inside TLS (`-v`).
    wire: Option<Arc<Wire>>,
}

/// [`TlsConnector::version`]'s values.
const TLS12: u8 = 2;
const TLS13: u8 = 3;

impl TlsConnector {
    /// The same connector, with its own record of a handshake.
    pub fn for_attempt(&self) -> TlsConnector {
        TlsConnector { started: Arc::default(), wire: None, ..self.clone() }
    }

    /// The same, watching the protocol inside TLS for `wire`.
    pub(super) fn watched(self, wire: Option<Arc<Wire>>) -> TlsConnector {
        TlsConnector { wire, ..self }
    }

    /// Whether the server agreed to TLS, so that a handshake was started.
    pub fn started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// The TLS protocol of the handshake, e.g. `TLSv1.3` (as
    /// `pg_stat_ssl` names it).
    pub fn version(&self) -> Option<&'static str> {
        match self.version.load(Ordering::Relaxed) {
            TLS12 => Some("TLSv1.2"),
            TLS13 => Some("TLSv1.3"),
            _ => None,
        }
    }
}

/// A connector for `settings`. Settings that rule out every TLS session
/// (sslrootcert=system with a weak mode, as libpq checks before
/// connecting; a setup problem where TLS is required) fail here.
pub fn connector(settings: &ConnSettings) -> Result<TlsConnector, TlsSetupError> {
    let mode = settings.sslmode;
    if matches!(settings.sslrootcert, Some(RootCert::System)) && mode != SslMode::VerifyFull {
        return Err(TlsSetupError(format!(
            "weak sslmode {mode} may not be used with sslrootcert=system (use verify-full)"
        )));
    }
    let version = Arc::new(AtomicU8::new(0));
    let inner = client_config(settings, &version).map(MakeRustlsConnect::new);
    let required = matches!(mode, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull);
    if let Err(err) = &inner
        && required
        && !settings.is_socket()
    {
        return Err(err.clone());
    }
    Ok(TlsConnector { inner, started: Arc::default(), version, wire: None })
}

type BoxError = Box<dyn StdError + Send + Sync>;

impl<S> MakeTlsConnect<S> for TlsConnector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Watched<<MakeRustlsConnect as MakeTlsConnect<S>>::Stream>;
    type TlsConnect = Handshake<<MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect>;
    type Error = BoxError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, BoxError> {
        let inner = match &mut self.inner {
            Ok(make) => Ok(MakeTlsConnect::<S>::make_tls_connect(make, domain)?),
            Err(err) => Err(err.clone()),
        };
        Ok(Handshake { inner, started: Arc::clone(&self.started), wire: self.wire.clone() })
    }
}

/// One TLS handshake, started once the server has agreed to TLS.
pub struct Handshake<T> {
    inner: Result<T, TlsSetupError>,
    started: Arc<AtomicBool>,
    wire: Option<Arc<Wire>>,
}

impl<S, T> TlsConnect<S> for Handshake<T>
where
    T: TlsConnect<S>,
    T::Stream: Send + 'static,
    T::Future: Send + 'static,
{
    type Stream = Watched<T::Stream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, BoxError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        self.started.store(true, Ordering::Relaxed);
        match self.inner {
            Ok(inner) => {
                let handshake = inner.connect(stream);
                let wire = self.wire;
                Box::pin(async move {
                    let stream = handshake.await.map_err(Into::into)?;
                    Ok(Watched::tls(stream, wire))
                })
            }
            Err(err) => Box::pin(std::future::ready(Err(err.into()))),
        }
    }
}

fn client_config(
    settings: &ConnSettings,
    version: &Arc<AtomicU8>,
) -> Result<ClientConfig, TlsSetupError> {
    let mut provider = rustls::crypto::ring::default_provider();
    // Until 18, PostgreSQL accepts only P-256 by default (`ssl_ecdh_curve =
    // prime256v1`): a key share for it first saves the round trip of a
    // HelloRetryRequest; 18 (`ssl_groups = 'X25519:prime256v1'`) takes it too.
    provider.kx_groups.sort_by_key(|group| group.name() != rustls::NamedGroup::secp256r1);
    let provider = Arc::new(provider);
    let verifier = Verifier::new(settings, &provider, Arc::clone(version))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsSetupError(format!("TLS setup: {err}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match (&settings.sslcert, &settings.sslkey) {
        (Some(cert), Some(key)) => {
            let (chain, key) = client_identity(cert, key)?;
            builder.with_client_auth_cert(chain, key).map_err(|err| {
                TlsSetupError(format!("client certificate {}: {err}", cert.display()))
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    // What libpq 17 sends; servers that negotiate TLS directly require it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// What the server's certificate is checked against.
enum Trust {
    /// Nothing: encryption without authentication, as libpq's `require`
    /// without a root certificate file.
    Nothing,
    /// A chain to these roots. The certificates of the root file are kept
    /// too: one of them may be the server's own, self-signed.
    Roots { verifier: Arc<WebPkiServerVerifier>, certificates: Vec<CertificateDer<'static>> },
}

/// Checks the server's certificate as libpq does for the sslmode; the
/// handshake's signatures are always checked, so the session is bound to
/// the certificate the server presented (which SCRAM channel binding then
/// checks).
#[derive(Debug)]
struct Verifier {
    trust: Trust,
    /// verify-full: the host name is checked too.
    check_host: bool,
    provider: Arc<CryptoProvider>,
    /// Where the protocol of a handshake is recorded ([`TlsConnector::version`]).
    version: Arc<AtomicU8>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Nothing => f.write_str("Nothing"),
            Trust::Roots { certificates, .. } => write!(f, "Roots({})", certificates.len()),
        }
    }
}

impl Verifier {
    fn new(
        settings: &ConnSettings,
        provider: &Arc<CryptoProvider>,
        version: Arc<AtomicU8>,
    ) -> Result<Self, TlsSetupError> {
        let mode = settings.sslmode;
        let verify = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
        let trust = match &settings.sslrootcert {
            Some(RootCert::System) => {
                let store = system_roots()?;
                Trust::Roots { verifier: webpki(store, provider)?, certificates: Vec::new() }
            }
            Some(RootCert::File(path)) if path.exists() => {
                let certificates = read_certificates(path, "root certificate file")?;
                let mut store = RootCertStore::empty();
                let (added, _) = store.add_parsable_certificates(certificates.iter().cloned());
                if added == 0 {
                    return Err(TlsSetupError(format!(
                        "root certificate file {}: no usable certificate in it",
                        path.display()
                    )));
                }
                Trust::Roots { verifier: webpki(store, provider)?, certificates }
            }
            Some(RootCert::File(path)) if verify => {
                return Err(TlsSetupError(format!(
                    "root certificate file {} does not exist; sslmode {mode} needs it to check \
                     the server with (or use sslrootcert=system, or a weaker sslmode)",
                    path.display()
                )));
            }
            None if verify => {
                return Err(TlsSetupError(format!(
                    "sslmode {mode} needs a root certificate to check the server with: set \
                     sslrootcert (a PEM file, or system), PGSSLROOTCERT, or ~/.postgresql/root.crt"
                )));
            }
            Some(RootCert::File(_)) | None => Trust::Nothing,
        };
        Ok(Verifier {
            trust,
            check_host: mode == SslMode::VerifyFull,
            provider: provider.clone(),
            version,
        })
    }
}

fn webpki(
    store: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsSetupError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|err| TlsSetupError(format!("TLS setup: {err}")))
}

fn system_roots() -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if store.is_empty() {
        return Err(TlsSetupError(
            "sslrootcert=system: no certificates found in the system trust store".into(),
        ));
    }
    Ok(store)
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Trust::Roots { verifier, certificates } = &self.trust else {
            return Ok(ServerCertVerified::assertion());
        };
        // OpenSSL trusts a self-signed certificate that is itself in the
        // root file; webpki would refuse a CA certificate as a server's.
        let mut parsed = None;
        if certificates.iter().any(|root| root.as_ref() == end_entity.as_ref()) {
            parsed = Some(ServerCertificate::parse(end_entity)?);
        }
        if let Some(own_root) = parsed.as_ref().filter(|cert| cert.is_self_issued()) {
            own_root.check_self_signed(now, &self.provider.signature_verification_algorithms)?;
        } else {
            let chain = verifier.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
            match chain {
                // The chain is good (webpki checks the name last); the name
                // is checked below, as libpq checks it.
                Ok(_)
                | Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => {}
                Err(err) => return Err(err),
            }
        }
        if self.check_host {
            let cert = match parsed {
                Some(cert) => cert,
                None => ServerCertificate::parse(end_entity)?,
            };
            cert.check_host(&host_of(server_name)).map_err(|presented| {
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected: server_name.to_owned(),
                    presented,
                })
            })?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.version.store(TLS12, Ordering::Relaxed);
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.version.store(TLS13, Ordering::Relaxed);
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The host as the connection named it (tokio-postgres-rustls turns an
/// address into an IP server name).
fn host_of(server_name: &ServerName<'_>) -> String {
    match server_name {
        ServerName::DnsName(name) => name.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => String::new(),
    }
}

fn read_certificates(
    path: &Path,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|err| TlsSetupError(format!("{what} {}: {err}", path.display())))?
        .collect();
    let certs = certs.map_err(|err| TlsSetupError(format!("{what} {}: {err}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsSetupError(format!("{what} {}: no PEM certificate in it", path.display())));
    }
    Ok(certs)
}

/// The client certificate chain and key. Like libpq, a key that others may
/// read is refused (0640 is allowed for a root-owned key, for shared groups).
fn client_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsSetupError> {
    let chain = read_certificates(cert, "sslcert")?;
    let meta = std::fs::metadata(key)
        .map_err(|err| TlsSetupError(format!("sslkey {}: {err}", key.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    let allowed = if meta.uid() == 0 { 0o037 } else { 0o077 };
    if mode & allowed != 0 {
        return Err(TlsSetupError(format!(
            "private key file {} has group or world access (mode {mode:04o}); it must be 0600 \
             or less (chmod 0600 {})",
            key.display(),
            key.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| TlsSetupError(format!("sslkey {}: {err}", key.display())))?;
    Ok((chain, key))
}

/// Whether a TLS failure means the peer does not speak TLS at all: it
/// answered the `SSLRequest` with 'S' but then sent something else (an SSH
/// server's greeting starts with 'S').
pub fn is_not_tls(err: &rustls::Error) -> bool {
    matches!(err, rustls::Error::InvalidMessage(_))
}

/// A rustls failure in words a DBA can act on.
pub fn describe(err: &rustls::Error, settings: &ConnSettings) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(problem) => {
            format!(
                "TLS verification failed: the server's certificate {}",
                certificate(problem, settings)
            )
        }
        E::AlertReceived(alert) => {
            format!("TLS handshake failed: the server {}", alert_words(*alert))
        }
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => {
            "TLS handshake failed: the server's answer is not TLS".into()
        }
        E::PeerIncompatible(_) => {
            "TLS handshake failed: the server offers no TLS version or cipher \
                                   suite pgacct accepts (TLS 1.2 or 1.3)"
                .into()
        }
        E::PeerMisbehaved(_) => "TLS handshake failed: the server broke the TLS protocol".into(),
        E::NoCertificatesPresented => {
            "TLS handshake failed: the server presented no certificate".into()
        }
        E::NoApplicationProtocol => {
            "TLS handshake failed: the server does not accept the ALPN protocol postgresql".into()
        }
        E::DecryptError => "TLS failed: a message from the server could not be decrypted".into(),
        E::General(text) => format!("TLS failed: {text}"),
        _ => "TLS handshake failed".into(),
    }
}

/// What is wrong with the server's certificate, after "the server's
/// certificate".
fn certificate(problem: &CertificateError, settings: &ConnSettings) -> String {
    use CertificateError as C;
    let roots = match &settings.sslrootcert {
        Some(rootcert) => format!("sslrootcert {rootcert}"),
        None => "the root certificate file".into(),
    };
    match problem {
        C::UnknownIssuer => format!("is not signed by a CA in {roots}"),
        C::NotValidForName => format!("is not valid for host '{}'", settings.host),
        C::NotValidForNameContext { presented, .. } if presented.is_empty() => {
            format!("is not valid for host '{}' (it names no host)", settings.host)
        }
        C::NotValidForNameContext { presented, .. } => {
            format!("is not valid for host '{}' (it names {})", settings.host, presented.join(", "))
        }
        C::Expired | C::ExpiredContext { .. } => "has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet".into(),
        C::BadSignature => "has a bad signature".into(),
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "is signed with an algorithm pgacct does not support".into()
        }
        C::BadEncoding => "cannot be read as an X.509 certificate".into(),
        C::Revoked => "has been revoked".into(),
        C::UnhandledCriticalExtension => "has a critical extension pgacct does not know".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "is not meant for a TLS server (its extended key usage)".into()
        }
        C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => format!(
                "is a CA certificate that is not in {roots} (a self-signed server certificate \
                 must itself be the root certificate)"
            ),
            Some(webpki::Error::EndEntityUsedAsCa) => {
                "chain holds a server certificate in the place of a CA".into()
            }
            Some(webpki::Error::UnsupportedCertVersion) => {
                "is not an X.509 version 3 certificate".into()
            }
            Some(
                webpki::Error::PathLenConstraintViolated | webpki::Error::MaximumPathDepthExceeded,
            ) => "chain is longer than its CAs allow".into(),
            Some(webpki::Error::NameConstraintViolation) => {
                "breaks a name constraint of its CA".into()
            }
            _ => "was refused".into(),
        },
        _ => "was refused".into(),
    }
}

/// An alert the server ended the handshake with, after "the server".
fn alert_words(alert: AlertDescription) -> String {
    use AlertDescription as A;
    match alert {
        A::HandshakeFailure => {
            "refused the handshake (no cipher suite or TLS version in common?)".into()
        }
        A::ProtocolVersion => "speaks no TLS version pgacct accepts (TLS 1.2 or 1.3)".into(),
        A::CertificateRequired => "requires a client certificate: set sslcert and sslkey".into(),
        A::BadCertificate
        | A::UnsupportedCertificate
        | A::CertificateUnknown
        | A::CertificateExpired
        | A::CertificateRevoked
        | A::UnknownCA
        | A::AccessDenied => "did not accept the client certificate".into(),
        A::NoApplicationProtocol => "does not accept the ALPN protocol postgresql".into(),
        A::InternalError => "had an internal error".into(),
        other => format!("ended the handshake with TLS alert number {}", u8::from(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectionConfig;
    use crate::pg::LibpqEnv;
    use crate::registry::Target;
    use rustls::OtherError;

    /// Debug formatting (`Other(OtherError(..))`, `DnsName("db1")`,
    /// `Foo { .. }`) in a message meant for people.
    fn debug_text(message: &str) -> bool {
        let bytes = message.as_bytes();
        (1..bytes.len()).any(|i| bytes[i] == b'(' && bytes[i - 1].is_ascii_alphanumeric())
            || ["{", "::", "(\""].iter().any(|sign| message.contains(sign))
    }

    #[test]
    fn the_first_key_share_is_the_one_postgresql_accepts_by_default() {
        let settings = ConnSettings::resolve(
            &Target::example("prod", "orders"),
            &LibpqEnv::default(),
            &ConnectionConfig::default(),
        );
        let config = client_config(&settings, &Arc::default()).unwrap();
        let groups: Vec<_> = config.crypto_provider().kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(groups[0], rustls::NamedGroup::secp256r1, "{groups:?}");
        assert!(groups.contains(&rustls::NamedGroup::X25519), "still offered: {groups:?}");
    }

    #[test]
    fn tls_failures_are_described_in_words() {
        let settings = ConnSettings::resolve(
            &Target::example("prod", "orders"),
            &LibpqEnv::default(),
            &ConnectionConfig::default(),
        );
        let other = |err: webpki::Error| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(err))))
        };
        let errors = [
            other(webpki::Error::CaUsedAsEndEntity),
            other(webpki::Error::EndEntityUsedAsCa),
            other(webpki::Error::UnsupportedCertVersion),
            other(webpki::Error::BadDerTime),
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("db1").unwrap(),
                presented: vec![],
            }),
            rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
            rustls::Error::AlertReceived(AlertDescription::Unknown(222)),
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            rustls::Error::PeerIncompatible(rustls::PeerIncompatible::NoCipherSuitesInCommon),
            rustls::Error::PeerMisbehaved(rustls::PeerMisbehaved::TooManyWarningAlertsReceived),
            rustls::Error::HandshakeNotComplete,
        ];
        for err in errors {
            let text = describe(&err, &settings);
            assert!(!debug_text(&text), "{err:?} is described as {text}");
        }
        let nameless =
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("db1").unwrap(),
                presented: vec![],
            });
        assert!(describe(&nameless, &settings).ends_with("(it names no host)"));
    }
}
