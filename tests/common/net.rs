//! The network around the client, on loopback: a private certificate
//! authority made at test time, a TLS front that terminates TLS with a
//! certificate it signed and passes the plain bytes to a backend (the
//! sandbox), and a recording proxy stub that tunnels `CONNECT` to that
//! front and records every request head it is sent.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// A certificate authority of the test's own; no machine trusts it.
pub struct Pki {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

/// What a leaf certificate should get wrong, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// Valid for `localhost` and `leads.test`, now.
    Good,
    /// Expired a few years ago.
    Expired,
    /// For another host name only.
    OtherName,
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(rcgen::DnType::CommonName, "leadctl test CA");
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Pki { params, key, pem }
    }

    /// Writes the CA certificate as PEM (what `SSL_CERT_FILE` names).
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).expect("write ca.pem");
        path
    }

    /// A server certificate signed by this CA, and its key.
    pub fn leaf(&self, kind: Leaf) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let names = match kind {
            Leaf::Good | Leaf::Expired => vec!["localhost".to_owned(), "leads.test".to_owned()],
            Leaf::OtherName => vec!["elsewhere.test".to_owned()],
        };
        let mut params = CertificateParams::new(names).expect("leaf params");
        if kind == Leaf::Expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }
}

/// Terminates TLS on 127.0.0.1 and relays the plain bytes to `backend`.
pub struct TlsFront {
    pub addr: SocketAddr,
    /// TCP connections accepted (each is one TLS handshake attempted).
    pub connections: Arc<AtomicUsize>,
}

impl TlsFront {
    pub fn start(rt: &Runtime, pki: &Pki, kind: Leaf, backend: SocketAddr) -> TlsFront {
        let (cert, key) = pki.leaf(kind);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A handshake the client refuses ends here.
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let Ok(mut plain) = TcpStream::connect(backend).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront { addr, connections }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A proxy stub: records the head of every request it is sent; tunnels a
/// `CONNECT` to `tunnel_to` when set (whatever host it names), and answers
/// anything else 502.
pub struct ProxyStub {
    pub addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl ProxyStub {
    pub fn start(rt: &Runtime, tunnel_to: Option<SocketAddr>) -> ProxyStub {
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("address");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_proxy(stream, Arc::clone(&seen), tunnel_to));
            }
        });
        ProxyStub { addr, heads }
    }

    /// `http://user:password@127.0.0.1:<port>` or without credentials.
    pub fn url(&self, credentials: Option<&str>) -> String {
        match credentials {
            Some(c) => format!("http://{c}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// Every request head received, in order.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }
}

async fn serve_proxy(mut stream: TcpStream, seen: Arc<Mutex<Vec<String>>>, tunnel_to: Option<SocketAddr>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte up to the blank line: what follows belongs to the tunnel.
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let connect = text.starts_with("CONNECT ");
    seen.lock().expect("lock").push(text);
    match (connect, tunnel_to) {
        (true, Some(target)) => {
            let Ok(mut upstream) = TcpStream::connect(target).await else { return };
            if stream.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
                return;
            }
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
        }
        _ => {
            let _ =
                stream.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        }
    }
}
