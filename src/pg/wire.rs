//! The socket under a session. pgacct opens it itself, as tokio-postgres
//! would (each address of the host name in turn, `TCP_NODELAY`, keepalive
//! after two idle hours; a Unix socket in its directory), so that `-v` can
//! watch it: how many round trips the session took, and which
//! authentication the server asked for. Unwatched, a stream passes
//! everything straight through.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::tls::{ChannelBinding, TlsStream};

use super::settings::ConnSettings;

/// What tokio-postgres sets by default: a keepalive probe after two idle
/// hours.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// Where one connection goes.
#[derive(Debug, Clone)]
pub(super) enum Route {
    Tcp(SocketAddr),
    /// The socket file (`.s.PGSQL.PORT` in the directory).
    Unix(PathBuf),
}

/// Every route to `settings`' one host: each address its name resolves
/// to, or its Unix socket.
pub(super) async fn routes(settings: &ConnSettings) -> io::Result<Vec<Route>> {
    if settings.is_socket() {
        let file = PathBuf::from(&settings.host).join(format!(".s.PGSQL.{}", settings.port));
        return Ok(vec![Route::Unix(file)]);
    }
    let routes: Vec<Route> = tokio::net::lookup_host((settings.host.as_str(), settings.port))
        .await?
        .map(Route::Tcp)
        .collect();
    if routes.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "could not resolve any addresses"));
    }
    Ok(routes)
}

impl Route {
    pub(super) async fn connect(&self) -> io::Result<Socket> {
        match self {
            Route::Tcp(address) => {
                let stream = TcpStream::connect(address).await?;
                stream.set_nodelay(true)?;
                socket2::SockRef::from(&stream)
                    .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(KEEPALIVE_IDLE))?;
                Ok(Socket::Tcp(stream))
            }
            Route::Unix(file) => Ok(Socket::Unix(UnixStream::connect(file).await?)),
        }
    }

    /// The IP address, for TCP.
    pub(super) fn address(&self) -> Option<SocketAddr> {
        match self {
            Route::Tcp(address) => Some(*address),
            Route::Unix(_) => None,
        }
    }
}

/// A connected TCP or Unix socket.
#[derive(Debug)]
pub(super) enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// What watching one connection saw, shared by its streams, its session
/// and its connection task.
#[derive(Debug)]
pub(super) struct Wire {
    round_trips: AtomicU32,
    /// The code of the server's first authentication request, or
    /// [`NOT_SEEN`].
    auth: AtomicU32,
}

const NOT_SEEN: u32 = u32::MAX;

impl Wire {
    pub(super) fn new() -> Arc<Wire> {
        Arc::new(Wire { round_trips: AtomicU32::new(0), auth: AtomicU32::new(NOT_SEEN) })
    }

    /// Round trips so far: the times the client sent something and then
    /// waited for, and got, an answer.
    pub(super) fn round_trips(&self) -> u32 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// The server's first authentication request (`AuthenticationOk` is 0:
    /// it asked for nothing), once seen.
    pub(super) fn auth_request(&self) -> Option<AuthRequest> {
        match self.auth.load(Ordering::Relaxed) {
            NOT_SEEN => None,
            code => Some(AuthRequest(code)),
        }
    }
}

/// An `Authentication*` request code of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AuthRequest(pub u32);

impl AuthRequest {
    /// The method as `pg_hba.conf` names it. The server asked for nothing:
    /// `trust` over TCP without a client certificate, else `none` (peer,
    /// trust or cert cannot be told apart from here).
    pub(super) fn method(self, by_certificate_or_socket: bool) -> String {
        match self.0 {
            0 if by_certificate_or_socket => "none".into(),
            0 => "trust".into(),
            2 => "kerberos".into(),
            3 => "password".into(),
            5 => "md5".into(),
            7 => "gss".into(),
            9 => "sspi".into(),
            10 => "scram-sha-256".into(),
            code => format!("request {code}"),
        }
    }
}

/// Where a stream's plain-text protocol starts, for finding the
/// authentication request in it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Start {
    /// At the first byte from the server.
    Now,
    /// After the one-byte answer to an `SSLRequest`, if that is `N`; on `S`
    /// the TLS stream above has it.
    AfterSslAnswer,
    /// Never: encrypted from the first byte (direct TLS).
    Never,
}

/// A stream, watched or not. The socket-level one counts round trips; the
/// one with the plain-text protocol (the socket itself, or the TLS stream
/// above it) finds the authentication request.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    watch: Option<Watch>,
}

#[derive(Debug)]
struct Watch {
    wire: Arc<Wire>,
    /// Counts round trips (only the socket-level stream does).
    counts: bool,
    /// The client sent something the server has not answered yet.
    sent: bool,
    sniff: Sniff,
}

impl<S> Watched<S> {
    /// Passes everything through, and records nothing.
    pub(super) fn unwatched(inner: S) -> Self {
        Watched { inner, watch: None }
    }

    /// The socket itself: counts round trips, and reads the plain-text
    /// protocol from `start`.
    pub(super) fn socket(inner: S, wire: Arc<Wire>, start: Start) -> Self {
        let sniff = match start {
            Start::Now => Sniff::start(),
            Start::AfterSslAnswer => Sniff::SslAnswer,
            Start::Never => Sniff::Done,
        };
        Watched { inner, watch: Some(Watch { wire, counts: true, sent: false, sniff }) }
    }

    /// A TLS stream: reads the plain-text protocol; the socket below counts.
    pub(super) fn tls(inner: S, wire: Option<Arc<Wire>>) -> Self {
        let watch =
            wire.map(|wire| Watch { wire, counts: false, sent: false, sniff: Sniff::start() });
        Watched { inner, watch }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Some(watch), Poll::Ready(Ok(()))) = (&mut this.watch, &polled) {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                if watch.counts && watch.sent {
                    watch.sent = false;
                    watch.wire.round_trips.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(code) = watch.sniff.feed(read) {
                    watch.wire.auth.store(code, Ordering::Relaxed);
                }
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let (Some(watch), Poll::Ready(Ok(written))) = (&mut this.watch, &polled) {
            watch.sent |= *written > 0;
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for Watched<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// Reads the server's messages up to its first authentication request
/// (`R`, a length, the request code), skipping any other message; stops at
/// an error (`E`), which ends the startup.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sniff {
    /// The answer to an `SSLRequest`: `N` goes on in plain text.
    SslAnswer,
    /// A message's type, length and (for `R`) code, `filled` bytes of them.
    Head {
        head: [u8; 9],
        filled: usize,
    },
    /// The rest of a message that is not the one looked for.
    Skip(usize),
    Done,
}

impl Sniff {
    fn start() -> Sniff {
        Sniff::Head { head: [0; 9], filled: 0 }
    }

    /// Reads `bytes`; the request code once it is complete.
    fn feed(&mut self, mut bytes: &[u8]) -> Option<u32> {
        while let Some(&first) = bytes.first() {
            match self {
                Sniff::Done => return None,
                Sniff::SslAnswer => {
                    *self = if first == b'N' { Sniff::start() } else { Sniff::Done };
                    bytes = &bytes[1..];
                }
                Sniff::Skip(left) => {
                    let skipped = (*left).min(bytes.len());
                    bytes = &bytes[skipped..];
                    *left -= skipped;
                    if *left == 0 {
                        *self = Sniff::start();
                    }
                }
                Sniff::Head { head, filled } => {
                    // The type first: it says how much of the head to read.
                    let wanted = match (*filled, head[0]) {
                        (0, _) => 1,
                        (_, b'R') => 9,
                        _ => 5,
                    };
                    let taken = (wanted - *filled).min(bytes.len());
                    head[*filled..*filled + taken].copy_from_slice(&bytes[..taken]);
                    *filled += taken;
                    bytes = &bytes[taken..];
                    let (head, filled) = (*head, *filled);
                    match head[0] {
                        b'R' if filled == 9 => {
                            *self = Sniff::Done;
                            return Some(u32::from_be_bytes([head[5], head[6], head[7], head[8]]));
                        }
                        b'E' => *self = Sniff::Done,
                        b'R' => {}
                        _ if filled == 5 => {
                            // The length counts itself.
                            let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
                            let body = (length as usize).saturating_sub(4);
                            *self = if body > 0 { Sniff::Skip(body) } else { Sniff::start() };
                        }
                        _ => {}
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    fn sasl() -> Vec<u8> {
        let mut body = 10u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"SCRAM-SHA-256\0\0");
        message(b'R', &body)
    }

    /// Feeds `bytes` in pieces of `size`.
    fn sniffed(mut sniff: Sniff, bytes: &[u8], size: usize) -> Option<u32> {
        bytes.chunks(size).find_map(|chunk| sniff.feed(chunk))
    }

    #[test]
    fn the_first_authentication_request_is_found_however_the_bytes_arrive() {
        for size in [1, 2, 3, 5, 9, 100] {
            assert_eq!(sniffed(Sniff::start(), &sasl(), size), Some(10), "{size}");
            let md5 = message(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]);
            assert_eq!(sniffed(Sniff::start(), &md5, size), Some(5), "{size}");
            let ok = message(b'R', &[0, 0, 0, 0]);
            assert_eq!(sniffed(Sniff::start(), &ok, size), Some(0), "{size}");
        }
    }

    #[test]
    fn the_answer_to_an_ssl_request_comes_first() {
        let mut bytes = vec![b'N'];
        bytes.extend(sasl());
        for size in [1, 4, 100] {
            assert_eq!(sniffed(Sniff::SslAnswer, &bytes, size), Some(10), "{size}");
        }
        // TLS was agreed to: the TLS stream above reads the protocol.
        let mut tls = vec![b'S', 0x16, 3, 3];
        tls.extend(sasl());
        assert_eq!(sniffed(Sniff::SslAnswer, &tls, 100), None);
    }

    #[test]
    fn other_messages_are_skipped_and_an_error_ends_the_search() {
        // A NegotiateProtocolVersion, short and long, before the request.
        for body in [&[0u8, 0, 0, 0][..], &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0][..]] {
            let mut bytes = message(b'v', body);
            bytes.extend(sasl());
            for size in [1, 3, 100] {
                assert_eq!(sniffed(Sniff::start(), &bytes, size), Some(10), "{size}");
            }
        }
        let mut refused = message(b'E', b"SFATAL\0C28000\0Mno pg_hba.conf entry\0\0");
        refused.extend(sasl());
        assert_eq!(sniffed(Sniff::start(), &refused, 100), None);
    }

    #[test]
    fn methods_are_named_as_pg_hba_conf_names_them() {
        assert_eq!(AuthRequest(10).method(false), "scram-sha-256");
        assert_eq!(AuthRequest(5).method(false), "md5");
        assert_eq!(AuthRequest(3).method(false), "password");
        assert_eq!(AuthRequest(0).method(false), "trust");
        assert_eq!(AuthRequest(0).method(true), "none");
    }
}
