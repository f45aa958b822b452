//! HTTPS served by chartrack itself (`tls_cert` and `tls_key` in `chartrack.toml`): rustls with
//! its cryptography done by the system's OpenSSL (`rustls-openssl`, the library the agent's
//! client already links), a certificate that can be replaced while the server runs, and a
//! listener that hands axum only connections whose handshake succeeded.
//!
//! The certificate is re-read on SIGHUP and when either file changes (checked every
//! [`POLL`]); a replacement that cannot be used (unreadable, not PEM, key not matching) is
//! refused with one error naming the file, and the certificate already served stays.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How often the certificate and key files are looked at for a change.
pub const POLL: Duration = Duration::from_secs(2);

/// A client that opens a connection and says nothing is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Strict-Transport-Security` value sent on every answer over HTTPS: browsers come back
/// over HTTPS only, for a year.
pub const HSTS: &str = "max-age=31536000";

/// The certificate served now, and where it is read from.
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// What the files looked like when last read (changed files are read again).
    seen: Mutex<Stamp>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Modification time and length of the certificate and key files (None: not readable).
type Stamp = [Option<(SystemTime, u64)>; 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    [cert, key].map(|p| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
}

impl Certificate {
    /// Read the certificate chain and its key; an error names the file at fault.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<Certificate>> {
        let provider = Arc::new(rustls_openssl::default_provider());
        let seen = stamp(cert, key);
        let certified = read(cert, key, &provider)?;
        Ok(Arc::new(Certificate {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(Arc::new(certified)),
            seen: Mutex::new(seen),
        }))
    }

    fn now(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Read the files again; on success new connections get the new certificate, on failure
    /// the one served stays and the reason is logged once.
    pub fn reload(&self, why: &str) -> bool {
        let seen = stamp(&self.cert, &self.key);
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = seen;
        match read(&self.cert, &self.key, &self.provider) {
            Ok(certified) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(certified);
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded ({why})");
                true
            }
            Err(e) => {
                tracing::error!(
                    error = %format!("{e:#}"),
                    "TLS certificate not reloaded ({why}); still serving the previous one"
                );
                false
            }
        }
    }

    /// Whether the files changed since they were last read.
    pub fn changed(&self) -> bool {
        let now = stamp(&self.cert, &self.key);
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            != now
    }

    /// The rustls settings for serving this certificate (HTTP/1.1, which is what the server
    /// speaks).
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow::anyhow!("TLS settings: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.now())
    }
}

/// The certificate chain and key from their PEM files, checked to belong together.
fn read(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let cert_pem = std::fs::read(cert)
        .map_err(|e| anyhow::anyhow!("tls_cert {}: cannot read it: {e}", cert.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            anyhow::anyhow!(
                "tls_cert {}: not a PEM certificate file: {e}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!(
            "tls_cert {}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)",
            cert.display()
        );
    }
    let key_pem = std::fs::read(key)
        .map_err(|e| anyhow::anyhow!("tls_key {}: cannot read it: {e}", key.display()))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        anyhow::anyhow!(
            "tls_key {}: no private key in it (expected PEM, -----BEGIN PRIVATE KEY-----): {e}",
            key.display()
        )
    })?;
    let validity = Validity::of(&chain[0]);
    let certified = CertifiedKey::from_der(chain, private, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => anyhow::anyhow!(
            "tls_key {} is not the key of the certificate in tls_cert {}",
            key.display(),
            cert.display()
        ),
        e => anyhow::anyhow!(
            "tls_cert {} / tls_key {}: cannot be used: {e}",
            cert.display(),
            key.display()
        ),
    })?;
    validity.tell(cert);
    Ok(certified)
}

/// A served certificate is not refused for its dates (an expired one still beats no HTTPS at
/// all while it is renewed), but an expired or nearly expired one is said loudly.
struct Validity {
    subject: String,
    not_after: String,
    /// Days left (negative: expired); None when OpenSSL cannot read the dates.
    days_left: Option<i32>,
}

/// Warn this many days before the certificate expires.
const RENEW_DAYS: i32 = 14;

impl Validity {
    fn of(der: &CertificateDer<'_>) -> Validity {
        let Ok(x509) = openssl::x509::X509::from_der(der) else {
            return Validity {
                subject: String::new(),
                not_after: String::new(),
                days_left: None,
            };
        };
        let subject = x509
            .subject_name()
            .entries()
            .filter_map(|e| e.data().to_string().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let days_left = openssl::asn1::Asn1Time::days_from_now(0)
            .ok()
            .and_then(|now| now.diff(x509.not_after()).ok())
            .map(|d| d.days);
        Validity {
            subject,
            not_after: x509.not_after().to_string(),
            days_left,
        }
    }

    fn tell(&self, cert: &Path) {
        let (cert, subject, until) = (cert.display(), &self.subject, &self.not_after);
        match self.days_left {
            Some(d) if d < 0 => tracing::error!(
                "the TLS certificate in tls_cert {cert} ({subject}) expired on {until}: browsers and agents refuse it; replace it"
            ),
            Some(d) if d < RENEW_DAYS => tracing::warn!(
                "the TLS certificate in tls_cert {cert} ({subject}) expires on {until}, in {d} day(s): renew it"
            ),
            _ => tracing::info!("serving HTTPS with tls_cert {cert} ({subject}), valid until {until}"),
        }
    }
}

/// SIGHUP, listened for from start-up (before it, SIGHUP would end the process).
pub struct Hangup(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Hangup {
    pub fn listen() -> Hangup {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Hangup(signal(SignalKind::hangup()).ok())
        }
        #[cfg(not(unix))]
        Hangup()
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = self.0.as_mut() {
            if s.recv().await.is_some() {
                return;
            }
        }
        std::future::pending().await
    }
}

/// Reload on SIGHUP and when the files change, until `stopping` turns true.
pub async fn watch(
    certificate: Arc<Certificate>,
    mut hangup: Hangup,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = hangup.recv() => { certificate.reload("SIGHUP"); }
            _ = tokio::time::sleep(POLL) => {
                if certificate.changed() {
                    certificate.reload("the files changed");
                }
            }
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// A listener whose connections are TLS streams whose handshake succeeded. Handshakes run on
/// their own tasks, so a slow or silent client holds up no one; a failed one (plain HTTP, an
/// untrusting client) is dropped with a debug line and the server goes on.
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a moment, as axum does.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // The server stopped accepting (shutting down): so does the socket.
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accepting task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
