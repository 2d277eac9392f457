//! The hub's TLS identity: a local CA and a server certificate it signs, kept in the data dir.
//!
//! The first start generates both (`ca.pem`/`ca.key`, `server.pem`/`server.key`); later
//! starts reload them, so clients that were told to trust `ca.pem` keep working. The server
//! certificate names the configured host, `localhost`, `127.0.0.1` and `::1`. It is issued
//! again (by the same CA) when it does not verify for the configured host any more: another
//! `--host`, an expired certificate, or a key that does not match it.
//!
//! Certificates follow what OpenSSL's strict mode (Python 3.13's default) asks for: the CA
//! has a critical basicConstraints, keyCertSign and a subject key id; the server certificate
//! has an authority key id, serverAuth and no CA flag.
//!
//! rcgen is built without its X.509 parser here, so the CA is not parsed back from
//! `ca.pem`: its issuer name is rebuilt from the fixed parameters in `ca_params`, and
//! whether a stored server certificate still fits is decided by verifying it exactly as a
//! client would (rustls' WebPKI verifier with the CA as the only root).

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use time::{Duration, OffsetDateTime};

/// The CA certificate, which clients trust.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA's private key (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";
/// The server certificate, presented on both ports.
pub const SERVER_CERT_FILE: &str = "server.pem";
/// The server certificate's private key (mode 0600).
pub const SERVER_KEY_FILE: &str = "server.key";

/// The names the server certificate always carries besides the configured host.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// How long a new CA is valid.
const CA_VALIDITY: Duration = Duration::days(20 * 365);
/// How long a new server certificate is valid; it is issued again when it expires.
const SERVER_VALIDITY: Duration = Duration::days(5 * 365);

/// Why the TLS identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Reading or writing a file in the data dir failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A stored file is not what it should be (e.g. `ca.key` is not a PEM key).
    #[error("{path} is not usable: {detail}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The host name cannot be put in a certificate.
    #[error("'{host}' cannot be a certificate name: {detail}")]
    BadHost {
        /// The configured host.
        host: String,
        /// Why not.
        detail: String,
    },
    /// rcgen failed to generate a key or a certificate.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// The hub's CA and server certificate, loaded from (or written to) a data dir.
pub struct Certificates {
    ca_pem: String,
    ca_path: PathBuf,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Loads the certificates in `dir`, generating what is missing and issuing a new server
    /// certificate if the stored one does not verify for `host` (a DNS name or an IP
    /// address; an IPv6 address may be in brackets).
    pub fn load_or_generate(dir: &Path, host: &str) -> Result<Self, CertError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|e| CertError::BadHost {
                host: host.to_owned(),
                detail: e.to_string(),
            })?;
        let ca_path = absolute(&dir.join(CA_CERT_FILE));
        let ca_key_path = dir.join(CA_KEY_FILE);
        let (ca_pem, ca_key) = match (read_optional(&ca_path)?, read_optional(&ca_key_path)?) {
            (Some(pem), Some(key)) => {
                let key = KeyPair::from_pem(&key).map_err(|e| invalid(&ca_key_path, e))?;
                (pem, key)
            }
            (None, None) => {
                let (pem, key) = generate_ca()?;
                write_file(&ca_key_path, key.serialize_pem().as_bytes(), true)?;
                write_file(&ca_path, pem.as_bytes(), false)?;
                tracing::info!(path = %ca_path.display(), "generated a new local CA");
                (pem, key)
            }
            _ => {
                return Err(CertError::Invalid {
                    path: ca_path,
                    detail: format!(
                        "{CA_CERT_FILE} and {CA_KEY_FILE} must both exist or both be absent"
                    ),
                });
            }
        };
        let ca_der =
            CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| invalid(&ca_path, e))?;

        let cert_path = dir.join(SERVER_CERT_FILE);
        let key_path = dir.join(SERVER_KEY_FILE);
        let stored = match (read_optional(&cert_path)?, read_optional(&key_path)?) {
            (Some(cert), Some(key)) => parse_server(&cert, &key)
                .filter(|(chain, key)| fits(&ca_der, chain, key, &server_name)),
            _ => None,
        };
        let (server_chain, server_key) = match stored {
            Some(stored) => stored,
            None => {
                let (cert_pem, key_pem) = issue_server_cert(&ca_key, host)?;
                write_file(&key_path, key_pem.as_bytes(), true)?;
                write_file(&cert_path, cert_pem.as_bytes(), false)?;
                tracing::info!(host, "issued a new server certificate");
                parse_server(&cert_pem, &key_pem).ok_or_else(|| CertError::Invalid {
                    path: cert_path.clone(),
                    detail: "the certificate just issued does not read back".to_owned(),
                })?
            }
        };
        Ok(Self {
            ca_pem,
            ca_path,
            server_chain,
            server_key,
        })
    }

    /// The CA certificate as PEM: what clients add to their trusted roots.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The absolute path of `ca.pem`.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// The TLS configuration of the HTTPS port: ALPN `h2` and `http/1.1`.
    pub fn https_config(&self) -> Result<Arc<rustls::ServerConfig>, CertError> {
        self.server_config(vec![b"h2".to_vec(), b"http/1.1".to_vec()])
    }

    /// The TLS configuration of the MQTT port: no ALPN (devices send none, or `x-amzn-…`
    /// style names a local hub need not check).
    pub fn mqtt_config(&self) -> Result<Arc<rustls::ServerConfig>, CertError> {
        self.server_config(Vec::new())
    }

    fn server_config(&self, alpn: Vec<Vec<u8>>) -> Result<Arc<rustls::ServerConfig>, CertError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), self.server_key.clone_key())?;
        config.alpn_protocols = alpn;
        Ok(Arc::new(config))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CA's parameters. Fixed, because the issuer name of every server certificate is
/// rebuilt from them rather than parsed from `ca.pem`.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "localhub local CA");
    name.push(DnType::OrganizationName, "localhub");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn generate_ca() -> Result<(String, KeyPair), CertError> {
    let key = KeyPair::generate()?;
    let mut params = ca_params();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + CA_VALIDITY;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key))
}

/// A server certificate for `host` and the local names, signed by the CA: (cert, key) PEM.
fn issue_server_cert(ca_key: &KeyPair, host: &str) -> Result<(String, String), CertError> {
    let mut names = vec![host.to_owned()];
    names.extend(
        LOCAL_NAMES
            .iter()
            .filter(|name| !name.eq_ignore_ascii_case(host))
            .map(|name| (*name).to_owned()),
    );
    let mut params = CertificateParams::new(names)?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, host);
    name.push(DnType::OrganizationName, "localhub");
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + SERVER_VALIDITY;
    let key = KeyPair::generate()?;
    let issuer = Issuer::new(ca_params(), ca_key);
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

type ServerIdentity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn parse_server(cert_pem: &str, key_pem: &str) -> Option<ServerIdentity> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|chain| !chain.is_empty())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).ok()?;
    Some((chain, key))
}

/// Whether a stored server certificate is still right: it verifies, now, as a certificate
/// of `host` issued by the CA, and its key matches it.
fn fits(
    ca: &CertificateDer<'static>,
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
    host: &ServerName<'static>,
) -> bool {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return false;
    };
    let mut roots = RootCertStore::empty();
    if roots.add(ca.clone()).is_err() {
        return false;
    }
    let Ok(verifier) =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build()
    else {
        return false;
    };
    let verified = verifier
        .verify_server_cert(leaf, intermediates, host, &[], UnixTime::now())
        .is_ok();
    // `with_single_cert` checks that the key belongs to the certificate.
    let key_matches = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(chain.to_vec(), key.clone_key())
                .is_ok()
        })
        .unwrap_or(false);
    verified && key_matches
}

fn read_optional(path: &Path) -> Result<Option<String>, CertError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CertError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a crash never
/// leaves half a key behind; `private` files get mode 0600 from the start.
pub(crate) fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), CertError> {
    let io_error = |source| CertError::Io {
        path: path.to_owned(),
        source,
    };
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&temp).map_err(io_error)?;
    file.write_all(bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    drop(file);
    fs::rename(&temp, path).map_err(io_error)
}

fn invalid(path: &Path, error: impl std::fmt::Display) -> CertError {
    CertError::Invalid {
        path: path.to_owned(),
        detail: error.to_string(),
    }
}

/// `path` made absolute against the current directory (it need not exist).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "localhub-certs-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn generates_then_reloads_and_reissues_for_a_new_host() {
        let dir = temp_dir("reload");
        let first = Certificates::load_or_generate(&dir, "localhost").expect("generate");
        first.https_config().expect("https config");
        first.mqtt_config().expect("mqtt config");
        assert!(first.ca_path().is_absolute());
        let server_pem = fs::read_to_string(dir.join(SERVER_CERT_FILE)).expect("server.pem");

        let again = Certificates::load_or_generate(&dir, "localhost").expect("reload");
        assert_eq!(again.ca_pem(), first.ca_pem());
        let reloaded = fs::read_to_string(dir.join(SERVER_CERT_FILE)).expect("server.pem");
        assert_eq!(reloaded, server_pem, "a fitting server certificate is kept");

        let other = Certificates::load_or_generate(&dir, "myhub.example").expect("re-issue");
        assert_eq!(other.ca_pem(), first.ca_pem(), "same CA");
        let reissued = fs::read_to_string(dir.join(SERVER_CERT_FILE)).expect("server.pem");
        assert_ne!(
            reissued, server_pem,
            "a new host gets a new server certificate"
        );
        let (chain, key) = parse_server(
            &reissued,
            &fs::read_to_string(dir.join(SERVER_KEY_FILE)).expect("key"),
        )
        .expect("parses");
        let ca = CertificateDer::from_pem_slice(first.ca_pem().as_bytes()).expect("ca");
        for name in ["myhub.example", "localhost", "127.0.0.1", "::1"] {
            let name = ServerName::try_from(name.to_owned()).expect("name");
            assert!(fits(&ca, &chain, &key, &name), "{name:?}");
        }
        let name = ServerName::try_from("elsewhere.example".to_owned()).expect("name");
        assert!(!fits(&ca, &chain, &key, &name));
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = temp_dir("modes");
        Certificates::load_or_generate(&dir, "localhost").expect("generate");
        for file in [CA_KEY_FILE, SERVER_KEY_FILE] {
            let mode = fs::metadata(dir.join(file))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_ca_without_its_key_is_an_error() {
        let dir = temp_dir("half");
        Certificates::load_or_generate(&dir, "localhost").expect("generate");
        fs::remove_file(dir.join(CA_KEY_FILE)).expect("rm");
        let error = Certificates::load_or_generate(&dir, "localhost").expect_err("half a CA");
        assert!(error.to_string().contains("must both exist"), "{error}");
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
