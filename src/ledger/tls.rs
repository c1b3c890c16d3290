//! TLS for the PostgreSQL ledger, through the rustls that reqwest already
//! builds (aws-lc-rs provider, platform roots): a small `MakeTlsConnect`
//! instead of another crate, since the glue is a few dozen lines and the
//! usual crate (`tokio-postgres-rustls`) brings an X.509 parser and its
//! proc-macro only to pick the hash for channel binding, which a few lines
//! of DER reading below do as well.
//!
//! Modes follow libpq: `prefer` and `require` encrypt but accept any
//! certificate (libpq checks nothing without a root file either; channel
//! binding still ties SCRAM authentication to this TLS session, so a
//! relaying man in the middle fails to log in), `verify-full` checks the
//! chain against the system's roots (or `sslrootcert`) and the host name.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Makes rustls connections for the driver.
#[derive(Clone)]
pub(crate) struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl MakeRustls {
    /// Checks certificates (`verify-full`) or accepts any (`prefer`, `require`).
    pub(crate) fn new(verify: bool, root_file: Option<&Path>) -> Result<MakeRustls, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match (verify, root_file) {
            (false, _) => Arc::new(AnyCertificate(provider.clone())),
            (true, Some(file)) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in
                    CertificateDer::pem_file_iter(file).map_err(|e| format!("sslrootcert {}: {e}", file.display()))?
                {
                    let cert = cert.map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
                    roots.add(cert).map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
                }
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("sslrootcert {}: {e}", file.display()))?
            }
            (true, None) => Arc::new(
                rustls_platform_verifier::Verifier::new(provider.clone())
                    .map_err(|e| format!("cannot load the system's root certificates: {e}"))?,
            ),
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustls { config: Arc::new(config) })
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name =
            ServerName::try_from(domain.to_owned()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnect { config: self.config.clone(), name })
    }
}

pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config).connect(self.name, stream).await?;
            Ok(RustlsStream(tls))
        })
    }
}

pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// `tls-server-end-point` (RFC 5929): the server certificate hashed with
    /// the hash of its signature algorithm (SHA-1 and MD5 become SHA-256).
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        let Some(cert) = session.peer_certificates().and_then(|c| c.first()) else {
            return ChannelBinding::none();
        };
        match signature_hash(cert.as_ref()) {
            Some(Hash::Sha256) => ChannelBinding::tls_server_end_point(sha2::Sha256::digest(cert).to_vec()),
            Some(Hash::Sha384) => ChannelBinding::tls_server_end_point(sha2::Sha384::digest(cert).to_vec()),
            Some(Hash::Sha512) => ChannelBinding::tls_server_end_point(sha2::Sha512::digest(cert).to_vec()),
            None => ChannelBinding::none(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// libpq's `require`: any certificate, but the handshake signatures are
/// still checked, so the session is bound to whoever holds that key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// The hash of a DER certificate's `signatureAlgorithm`, when it names one
/// (`None` for RSA-PSS, whose hash hides in parameters, and for Ed25519).
fn signature_hash(cert: &[u8]) -> Option<Hash> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
    let (body, _) = der_element(cert, 0x30)?;
    let (_, rest) = der_any(body)?;
    let (algorithm, _) = der_element(rest, 0x30)?;
    let (oid, _) = der_element(algorithm, 0x06)?;
    const RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03];
    const ECDSA_SHA1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01];
    match oid {
        // md5, sha1, sha256 WithRSAEncryption; sha384; sha512
        [head @ .., 0x04 | 0x05 | 0x0B] if head == RSA => Some(Hash::Sha256),
        [head @ .., 0x0C] if head == RSA => Some(Hash::Sha384),
        [head @ .., 0x0D] if head == RSA => Some(Hash::Sha512),
        o if o == ECDSA_SHA1 => Some(Hash::Sha256),
        [head @ .., 0x02] if head == ECDSA_SHA2 => Some(Hash::Sha256),
        [head @ .., 0x03] if head == ECDSA_SHA2 => Some(Hash::Sha384),
        [head @ .., 0x04] if head == ECDSA_SHA2 => Some(Hash::Sha512),
        _ => None,
    }
}

/// The contents of the DER element at the start of `data` if its tag is
/// `tag`, and what follows it.
fn der_element(data: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    (*data.first()? == tag).then(|| der_any(data)).flatten()
}

fn der_any(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = *data.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let len = data.get(2..2 + n)?.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((data.get(header..end)?, data.get(end..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate skeleton: SEQUENCE { SEQUENCE { long tbs }, SEQUENCE { OID }, BIT STRING }.
    fn cert_with(oid: &[u8]) -> Vec<u8> {
        let tbs_body = vec![0u8; 300];
        let mut tbs = vec![0x30, 0x82, 0x01, 0x2C];
        tbs.extend(&tbs_body);
        let mut alg = vec![0x30, (oid.len() + 4) as u8, 0x06, oid.len() as u8];
        alg.extend(oid);
        alg.extend([0x05, 0x00]);
        let sig = [0x03, 0x02, 0x00, 0xFF];
        let body_len = tbs.len() + alg.len() + sig.len();
        let mut cert = vec![0x30, 0x82, (body_len >> 8) as u8, body_len as u8];
        cert.extend(tbs);
        cert.extend(alg);
        cert.extend(sig);
        cert
    }

    #[test]
    fn signature_hashes_follow_rfc_5929() {
        let rsa = |last: u8| [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, last];
        let ecdsa = |last: u8| [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, last];
        assert_eq!(signature_hash(&cert_with(&rsa(0x0B))), Some(Hash::Sha256));
        assert_eq!(signature_hash(&cert_with(&rsa(0x05))), Some(Hash::Sha256));
        assert_eq!(signature_hash(&cert_with(&rsa(0x0C))), Some(Hash::Sha384));
        assert_eq!(signature_hash(&cert_with(&rsa(0x0D))), Some(Hash::Sha512));
        assert_eq!(signature_hash(&cert_with(&rsa(0x0A))), None, "RSA-PSS");
        assert_eq!(signature_hash(&cert_with(&ecdsa(0x02))), Some(Hash::Sha256));
        assert_eq!(signature_hash(&cert_with(&ecdsa(0x03))), Some(Hash::Sha384));
        assert_eq!(signature_hash(&cert_with(&[0x2B, 0x65, 0x70])), None, "Ed25519");
    }

    #[test]
    fn truncated_der_is_no_hash() {
        let cert = cert_with(&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]);
        for cut in [0, 1, 3, 10, 304, cert.len() - 5] {
            assert_eq!(signature_hash(&cert[..cut]), None, "cut at {cut}");
        }
    }
}
