//! TLS with libpq's meaning of each sslmode, on rustls.
//!
//! | sslmode | encryption | server certificate checked |
//! |---|---|---|
//! | disable | never | - |
//! | allow | only if the server insists | chain, if a root certificate is known |
//! | prefer | if the server offers it | chain, if a root certificate is known |
//! | require | always | chain, if a root certificate is known |
//! | verify-ca | always | chain (a root certificate is required) |
//! | verify-full | always | chain and host name |
//!
//! "A root certificate is known" means `sslrootcert` is set, or
//! `~/.postgresql/root.crt` exists, as in libpq. `sslrootcert=system`
//! uses the platform's trust store and, as in libpq, only with verify-full.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::settings::ConnSettings;
use crate::registry::{RootCert, SslMode};

/// TLS could not be set up from the settings (before any connection).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(String);

/// How the server's certificate is checked.
enum Verification {
    /// Encryption without authentication, as libpq's `require` without a
    /// root certificate. Handshake signatures are still checked.
    None,
    /// The chain must lead to a trusted root; the name is not checked.
    Chain(Arc<WebPkiServerVerifier>),
    /// Chain and host name.
    Full(Arc<WebPkiServerVerifier>),
}

/// A TLS connector for `settings`.
pub fn connector(settings: &ConnSettings) -> Result<MakeRustlsConnect, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verification = verification(settings, &provider)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsSetupError(format!("TLS setup: {err}")))?;
    let builder = match verification {
        Verification::Full(verifier) => builder.with_webpki_verifier(verifier),
        Verification::Chain(verifier) => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnly { verifier }))
        }
        Verification::None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unauthenticated { provider })),
    };
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
    Ok(MakeRustlsConnect::new(config))
}

fn verification(
    settings: &ConnSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Verification, TlsSetupError> {
    let mode = settings.sslmode;
    if matches!(settings.sslrootcert, Some(RootCert::System)) && mode != SslMode::VerifyFull {
        return Err(TlsSetupError(format!(
            "weak sslmode {mode} may not be used with sslrootcert=system (use verify-full)"
        )));
    }
    let Some(rootcert) = &settings.sslrootcert else {
        return match mode {
            SslMode::VerifyCa | SslMode::VerifyFull => Err(TlsSetupError(format!(
                "sslmode {mode} needs a root certificate to check the server with: set \
                 sslrootcert (a PEM file, or system), PGSSLROOTCERT, or ~/.postgresql/root.crt"
            ))),
            _ => Ok(Verification::None),
        };
    };
    let roots = Arc::new(root_store(rootcert)?);
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|err| TlsSetupError(format!("sslrootcert {rootcert}: {err}")))?;
    Ok(if mode == SslMode::VerifyFull {
        Verification::Full(verifier)
    } else {
        Verification::Chain(verifier)
    })
}

fn root_store(rootcert: &RootCert) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    match rootcert {
        RootCert::System => {
            let native = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(native.certs);
            if store.is_empty() {
                return Err(TlsSetupError(
                    "sslrootcert=system: no certificates found in the system trust store".into(),
                ));
            }
        }
        RootCert::File(path) => {
            let certs = read_certificates(path, "sslrootcert")?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsSetupError(format!(
                    "sslrootcert {}: no usable CA certificate in it",
                    path.display()
                )));
            }
        }
    }
    Ok(store)
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

/// verify-ca: the chain must lead to a trusted root; any name is fine.
#[derive(Debug)]
struct ChainOnly {
    verifier: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.verifier.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verdict {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier.supported_verify_schemes()
    }
}

/// libpq's `require` without a root certificate: encrypted, not
/// authenticated. The handshake's signatures are still verified, so the
/// session is bound to the certificate the server presented (which SCRAM
/// channel binding then checks).
#[derive(Debug)]
struct Unauthenticated {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Unauthenticated {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls failure in words a DBA can act on.
pub fn describe(err: &rustls::Error, settings: &ConnSettings) -> String {
    let rootcert = settings.sslrootcert.as_ref().map_or_else(String::new, ToString::to_string);
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => format!(
                "TLS verification failed: the server's certificate is not signed by a CA in \
                 sslrootcert {rootcert}"
            ),
            CertificateError::NotValidForName => format!(
                "TLS verification failed: the server's certificate is not valid for host '{}'",
                settings.host
            ),
            CertificateError::NotValidForNameContext { presented, .. } => format!(
                "TLS verification failed: the server's certificate is not valid for host '{}' \
                 (it names {})",
                settings.host,
                presented.join(", ")
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "TLS verification failed: the server's certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "TLS verification failed: the server's certificate is not valid yet".into()
            }
            CertificateError::BadSignature => {
                "TLS verification failed: the server's certificate has a bad signature".into()
            }
            other => format!("TLS verification failed: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("TLS handshake failed: the server sent the alert {alert:?}")
        }
        other => format!("TLS handshake failed: {other}"),
    }
}
