//! What libpq reads in a server certificate besides its chain: the names
//! verify-full checks the host against, and whether a certificate in the
//! root file is trusted as its own root (a self-signed server certificate,
//! as in PostgreSQL's documentation).
//!
//! Both follow libpq 15+ (`fe-secure-common.c`, `fe-secure-openssl.c`) and
//! OpenSSL, not the web PKI rules of webpki: the Common Name counts when no
//! subjectAltName of the host's kind (DNS or IP) is there, and a
//! self-signed certificate may be a CA certificate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rustls::CertificateError;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::UnixTime;
use x509_cert::Certificate;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::oid::db::rfc4519::CN;
use x509_cert::der::oid::db::rfc5280::{
    ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE, ID_CE_SUBJECT_ALT_NAME, ID_KP_SERVER_AUTH,
};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};

/// A parsed server certificate.
pub struct ServerCertificate {
    cert: Certificate,
}

/// How one name in a certificate compares with the host.
#[derive(Debug, PartialEq, Eq)]
enum Compared {
    Matches,
    Differs,
    /// A name libpq refuses to compare (an embedded NUL, an address of a
    /// wrong length): the check ends there, failed.
    Unusable,
}

impl ServerCertificate {
    pub fn parse(der: &[u8]) -> Result<ServerCertificate, CertificateError> {
        Certificate::from_der(der)
            .map(|cert| ServerCertificate { cert })
            .map_err(|_| CertificateError::BadEncoding)
    }

    /// libpq's verify-full name check: `Ok` when a name matches `host`,
    /// else the names looked at, in the certificate's order.
    ///
    /// The subjectAltNames are compared in order; the first Common Name is
    /// compared only when no subjectAltName has the host's kind (an IP
    /// address for an IP host, a DNS name otherwise).
    pub fn check_host(&self, host: &str) -> Result<(), Vec<String>> {
        let host_ip: Option<IpAddr> = host.parse().ok();
        let mut examined = Vec::new();
        let mut check_cn = true;
        for name in self.alt_names() {
            let compared = match &name {
                GeneralName::DnsName(dns) => {
                    if host_ip.is_none() {
                        check_cn = false;
                    }
                    examined.push(String::from_utf8_lossy(dns.as_bytes()).into_owned());
                    compare_name(dns.as_bytes(), host)
                }
                GeneralName::IpAddress(octets) => {
                    if host_ip.is_some() {
                        check_cn = false;
                    }
                    examined.push(show_ip(octets.as_bytes()));
                    compare_ip(octets.as_bytes(), host_ip)
                }
                _ => continue,
            };
            match compared {
                Compared::Matches => return Ok(()),
                Compared::Unusable => return Err(examined),
                Compared::Differs => {}
            }
        }
        if check_cn && let Some(cn) = self.common_name() {
            examined.push(String::from_utf8_lossy(cn).into_owned());
            if compare_name(cn, host) == Compared::Matches {
                return Ok(());
            }
        }
        Err(examined)
    }

    /// Whether the certificate names itself as its issuer, as a
    /// self-signed one does.
    pub fn is_self_issued(&self) -> bool {
        self.cert.tbs_certificate.issuer == self.cert.tbs_certificate.subject
    }

    /// Checks a self-issued certificate that the root file holds as the
    /// server's certificate, as OpenSSL checks a trusted certificate that
    /// is its own root: its own signature, its validity period, and its
    /// key usages for a TLS server. The handshake then proves the server
    /// holds its key.
    pub fn check_self_signed(
        &self,
        now: UnixTime,
        algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<(), CertificateError> {
        self.check_own_signature(algorithms)?;
        let validity = &self.cert.tbs_certificate.validity;
        let now = Duration::from_secs(now.as_secs());
        if now < validity.not_before.to_unix_duration() {
            return Err(CertificateError::NotValidYet);
        }
        if now > validity.not_after.to_unix_duration() {
            return Err(CertificateError::Expired);
        }
        self.check_server_usage()
    }

    fn check_own_signature(
        &self,
        algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<(), CertificateError> {
        let tbs = &self.cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        let (Ok(signed), Ok(signature_alg), Ok(key_alg)) = (
            tbs.to_der(),
            algorithm_id(&self.cert.signature_algorithm),
            algorithm_id(&spki.algorithm),
        ) else {
            return Err(CertificateError::BadEncoding);
        };
        let algorithm = algorithms.all.iter().find(|alg| {
            *alg.signature_alg_id().as_ref() == *signature_alg
                && *alg.public_key_alg_id().as_ref() == *key_alg
        });
        let Some(algorithm) = algorithm else {
            return Err(CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: signature_alg,
                supported_algorithms: algorithms
                    .all
                    .iter()
                    .map(|alg| alg.signature_alg_id())
                    .collect(),
            });
        };
        algorithm
            .verify_signature(
                spki.subject_public_key.raw_bytes(),
                &signed,
                self.cert.signature.raw_bytes(),
            )
            .map_err(|_| CertificateError::BadSignature)
    }

    /// OpenSSL's purpose check for a TLS server: an extended key usage, if
    /// any, names serverAuth; a key usage, if any, allows a TLS key.
    fn check_server_usage(&self) -> Result<(), CertificateError> {
        if let Some(value) = self.extension(ID_CE_EXT_KEY_USAGE) {
            let usage =
                ExtendedKeyUsage::from_der(value).map_err(|_| CertificateError::BadEncoding)?;
            if !usage.0.contains(&ID_KP_SERVER_AUTH) {
                return Err(CertificateError::InvalidPurpose);
            }
        }
        if let Some(value) = self.extension(ID_CE_KEY_USAGE) {
            let usage = KeyUsage::from_der(value).map_err(|_| CertificateError::BadEncoding)?;
            let tls =
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment | KeyUsages::KeyAgreement;
            if (usage.0 & tls).is_empty() {
                return Err(CertificateError::InvalidPurpose);
            }
        }
        Ok(())
    }

    fn extension(&self, id: ObjectIdentifier) -> Option<&[u8]> {
        let extensions = self.cert.tbs_certificate.extensions.as_ref()?;
        extensions.iter().find(|ext| ext.extn_id == id).map(|ext| ext.extn_value.as_bytes())
    }

    /// The subjectAltNames; none when the extension is absent or cannot be
    /// read (as OpenSSL, which then checks the Common Name).
    fn alt_names(&self) -> Vec<GeneralName> {
        self.extension(ID_CE_SUBJECT_ALT_NAME)
            .and_then(|value| SubjectAltName::from_der(value).ok())
            .map(|names| names.0)
            .unwrap_or_default()
    }

    /// The subject's first Common Name, as its raw string bytes.
    fn common_name(&self) -> Option<&[u8]> {
        self.cert
            .tbs_certificate
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|attribute| attribute.oid == CN)
            .map(|attribute| attribute.value.value())
    }
}

/// The contents of an `AlgorithmIdentifier` (its fields, without the
/// SEQUENCE around them), as rustls names algorithms.
fn algorithm_id(
    id: &x509_cert::spki::AlgorithmIdentifierOwned,
) -> Result<Vec<u8>, x509_cert::der::Error> {
    let mut contents = id.oid.to_der()?;
    if let Some(parameters) = &id.parameters {
        contents.extend(parameters.to_der()?);
    }
    Ok(contents)
}

/// libpq's `pq_verify_peer_name_matches_certificate_name`: the whole name,
/// or a leading `*.` standing for exactly one label, case-insensitively.
fn compare_name(name: &[u8], host: &str) -> Compared {
    if name.contains(&0) {
        return Compared::Unusable;
    }
    let host = host.as_bytes();
    if name.eq_ignore_ascii_case(host) {
        return Compared::Matches;
    }
    let Some(suffix) = name.strip_prefix(b"*") else { return Compared::Differs };
    // `suffix` starts with the dot; the part of the host it stands for is
    // one label: not empty and without a dot.
    if !suffix.starts_with(b".") || suffix.len() < 2 || host.len() <= suffix.len() {
        return Compared::Differs;
    }
    let (label, rest) = host.split_at(host.len() - suffix.len());
    if rest.eq_ignore_ascii_case(suffix) && !label.contains(&b'.') {
        Compared::Matches
    } else {
        Compared::Differs
    }
}

/// libpq's `pq_verify_peer_name_matches_certificate_ip`: the address's
/// bytes against the host's, when the host is an address of that family.
fn compare_ip(octets: &[u8], host: Option<IpAddr>) -> Compared {
    match (octets.len(), host) {
        (4, Some(IpAddr::V4(host))) if host.octets() == octets => Compared::Matches,
        (16, Some(IpAddr::V6(host))) if host.octets() == octets => Compared::Matches,
        (4 | 16, _) => Compared::Differs,
        _ => Compared::Unusable,
    }
}

fn show_ip(octets: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(octets) {
        Ipv6Addr::from(v6).to_string()
    } else {
        "an IP address of a wrong length".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, SanType,
    };

    fn cert(cn: Option<&str>, sans: &[&str]) -> ServerCertificate {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = sans
            .iter()
            .map(|san| match san.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*san).try_into().unwrap()),
            })
            .collect();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        let key = KeyPair::generate().unwrap();
        ServerCertificate::parse(params.self_signed(&key).unwrap().der()).unwrap()
    }

    #[test]
    fn the_common_name_counts_without_alt_names() {
        let cn_only = cert(Some("db1.example.com"), &[]);
        assert_eq!(cn_only.check_host("db1.example.com"), Ok(()));
        assert_eq!(cn_only.check_host("DB1.Example.COM"), Ok(()));
        assert_eq!(cn_only.check_host("db2.example.com"), Err(vec!["db1.example.com".into()]));
        assert_eq!(cert(None, &[]).check_host("db1"), Err(vec![]));
    }

    #[test]
    fn a_dns_alt_name_hides_the_common_name_from_a_dns_host_only() {
        let both = cert(Some("127.0.0.1"), &["db1"]);
        assert_eq!(both.check_host("db1"), Ok(()));
        assert_eq!(both.check_host("127.0.0.1"), Ok(()), "libpq checks the CN for an IP host");
        let named = cert(Some("db2"), &["db1"]);
        assert_eq!(named.check_host("db2"), Err(vec!["db1".into()]));
    }

    #[test]
    fn an_ip_alt_name_matches_the_address_and_hides_the_common_name_from_ip_hosts() {
        let ip = cert(Some("10.0.0.9"), &["10.0.0.1", "::1"]);
        assert_eq!(ip.check_host("10.0.0.1"), Ok(()));
        assert_eq!(ip.check_host("::1"), Ok(()));
        assert_eq!(ip.check_host("10.0.0.9"), Err(vec!["10.0.0.1".into(), "::1".into()]));
        let for_dns_host = cert(Some("db1"), &["10.0.0.1"]);
        assert_eq!(for_dns_host.check_host("db1"), Ok(()), "no DNS alt name: the CN counts");
    }

    #[test]
    fn a_wildcard_stands_for_one_label() {
        assert_eq!(compare_name(b"*.example.com", "db1.example.com"), Compared::Matches);
        assert_eq!(compare_name(b"*.example.com", "DB1.EXAMPLE.com"), Compared::Matches);
        assert_eq!(compare_name(b"*.example.com", "a.b.example.com"), Compared::Differs);
        assert_eq!(compare_name(b"*.example.com", "example.com"), Compared::Differs);
        assert_eq!(compare_name(b"*.example.com", ".example.com"), Compared::Differs);
        assert_eq!(compare_name(b"*example.com", "dbexample.com"), Compared::Differs);
        assert_eq!(compare_name(b"db*.example.com", "db1.example.com"), Compared::Differs);
        assert_eq!(compare_name(b"*.", "a."), Compared::Differs);
        assert_eq!(compare_name(b"db1\0.evil.com", "db1"), Compared::Unusable);
    }

    #[test]
    fn addresses_compare_by_family() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(compare_ip(&[10, 0, 0, 1], Some(v4)), Compared::Matches);
        assert_eq!(compare_ip(&[10, 0, 0, 2], Some(v4)), Compared::Differs);
        assert_eq!(compare_ip(&[10, 0, 0, 1], None), Compared::Differs);
        assert_eq!(compare_ip(&[10, 0, 0], Some(v4)), Compared::Unusable);
    }

    fn algorithms() -> WebPkiSupportedAlgorithms {
        rustls::crypto::ring::default_provider().signature_verification_algorithms
    }

    /// A self-signed CA certificate, as `openssl req -x509` makes one.
    fn self_signed_ca(eku: bool) -> (rcgen::Certificate, KeyPair) {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "db1");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        if eku {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = KeyPair::generate().unwrap();
        (params.self_signed(&key).unwrap(), key)
    }

    #[test]
    fn a_self_signed_certificate_is_checked_by_its_own_signature() {
        let (ca, _) = self_signed_ca(false);
        let parsed = ServerCertificate::parse(ca.der()).unwrap();
        assert!(parsed.is_self_issued());
        assert_eq!(parsed.check_self_signed(UnixTime::now(), &algorithms()), Ok(()));

        // The same certificate with one bit of its signature flipped.
        let mut forged = ca.der().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let forged = ServerCertificate::parse(&forged).unwrap();
        assert_eq!(
            forged.check_self_signed(UnixTime::now(), &algorithms()),
            Err(CertificateError::BadSignature)
        );
    }

    #[test]
    fn a_self_signed_certificate_must_be_current_and_for_servers() {
        let (ca, _) = self_signed_ca(false);
        let parsed = ServerCertificate::parse(ca.der()).unwrap();
        let far_future = UnixTime::since_unix_epoch(Duration::from_secs(70_000_000_000));
        assert_eq!(
            parsed.check_self_signed(far_future, &algorithms()),
            Err(CertificateError::Expired)
        );
        let (client_only, _) = self_signed_ca(true);
        let parsed = ServerCertificate::parse(client_only.der()).unwrap();
        assert_eq!(
            parsed.check_self_signed(UnixTime::now(), &algorithms()),
            Err(CertificateError::InvalidPurpose)
        );
    }

    /// Made by `openssl req -new -x509 -days 36500 -nodes -newkey rsa:2048
    /// -subj /CN=db1` (a CA certificate), the setup in PostgreSQL's
    /// documentation.
    const OPENSSL_SELF_SIGNED: &str = include_str!("openssl-self-signed.pem");

    #[test]
    fn an_openssl_rsa_self_signed_certificate_verifies() {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(OPENSSL_SELF_SIGNED.as_bytes())
            .unwrap();
        let parsed = ServerCertificate::parse(&der).unwrap();
        assert!(parsed.is_self_issued());
        assert_eq!(parsed.check_host("db1"), Ok(()));
        assert_eq!(parsed.check_self_signed(UnixTime::now(), &algorithms()), Ok(()));
    }
}
