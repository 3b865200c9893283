//! SMTP on the wire: a line reader with a length limit, replies, dot-stuffing, and the network
//! the relay runs on (turmoil inside the simulation, tokio's sockets on loopback).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where the relay's sockets come from.
pub trait Net: Clone + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;
    type Listener: 'static;
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>>;
    fn accept(
        &self,
        l: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;
    /// Milliseconds since the Unix epoch on this network's clock (simulated inside turmoil).
    fn now_ms(&self) -> u64;
}

/// turmoil's simulated sockets and clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimNet;

impl Net for SimNet {
    type Stream = turmoil::net::TcpStream;
    type Listener = turmoil::net::TcpListener;
    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr).await
    }
    async fn accept(&self, l: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        l.accept().await
    }
    fn now_ms(&self) -> u64 {
        turmoil::since_epoch()
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Real sockets (loopback benchmark, corpus feeding).
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioNet;

impl Net for TokioNet {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;
    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }
    async fn accept(&self, l: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        let (s, a) = l.accept().await?;
        s.set_nodelay(true)?;
        Ok((s, a))
    }
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Real sockets whose outbound connections leave from a chosen address (a served gateway's
/// configured outbound address), or from whatever the system picks.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoundNet {
    pub source: Option<std::net::IpAddr>,
}

impl Net for BoundNet {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;
    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let Some(source) = self.source else {
            return TokioNet.connect(addr).await;
        };
        let sock = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        sock.bind(SocketAddr::new(source, 0))?;
        let s = sock.connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }
    async fn accept(&self, l: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        TokioNet.accept(l).await
    }
    fn now_ms(&self) -> u64 {
        TokioNet.now_ms()
    }
}

#[derive(Debug)]
pub enum LineError {
    Io(io::Error),
    /// The peer closed the connection.
    Eof,
    /// A line longer than the limit; the reader skipped to its end.
    TooLong,
    Timeout,
}

impl From<io::Error> for LineError {
    fn from(e: io::Error) -> Self {
        LineError::Io(e)
    }
}

/// Any byte stream a session can run over: a socket, or TLS over one.
pub trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}
pub type BoxIo = Box<dyn Io>;

/// Buffered reading of CRLF (or bare LF) terminated lines, each within a limit.
pub struct LineReader<S> {
    pub stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> LineReader<S> {
    pub fn new(stream: S) -> Self {
        LineReader {
            stream,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// The stream, dropping whatever is buffered (RFC 3207: input pipelined after STARTTLS
    /// is discarded, never read as commands under TLS).
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Whether a whole further line is already buffered (pipelined commands).
    pub fn has_buffered_line(&self) -> bool {
        self.buf[self.start..self.end].contains(&b'\n')
    }

    async fn fill(&mut self, timeout: Duration) -> Result<(), LineError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = tokio::time::timeout(timeout, self.stream.read(&mut self.buf[self.end..]))
            .await
            .map_err(|_| LineError::Timeout)??;
        if n == 0 {
            return Err(LineError::Eof);
        }
        self.end += n;
        Ok(())
    }

    /// The next line with its terminator, at most `max` bytes including it.
    pub async fn line(&mut self, max: usize, timeout: Duration) -> Result<Vec<u8>, LineError> {
        let mut skipping = false;
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                let line = window[..=i].to_vec();
                self.start += i + 1;
                if skipping || line.len() > max {
                    return Err(LineError::TooLong);
                }
                return Ok(line);
            }
            if window.len() > max {
                // Too long already: drop what we have and skip to the end of the line.
                self.start = self.end;
                skipping = true;
            }
            self.fill(timeout).await?;
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        self.stream.flush().await
    }
}

/// An SMTP reply: the code, and the text of its lines (the last line's text first joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.join(" / ")
    }
    pub fn class(&self) -> u16 {
        self.code / 100
    }
}

/// Reads one (possibly multi-line) reply.
pub async fn read_reply<S: AsyncRead + AsyncWrite + Unpin>(
    r: &mut LineReader<S>,
    timeout: Duration,
) -> Result<Reply, LineError> {
    let mut lines = Vec::new();
    loop {
        let line = r.line(2048, timeout).await?;
        let s = String::from_utf8_lossy(&line);
        let s = s.trim_end_matches(['\r', '\n']);
        let code = s
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| LineError::Io(io::Error::other(format!("bad reply line `{s}`"))))?;
        let sep = s.as_bytes().get(3).copied().unwrap_or(b' ');
        lines.push(s.get(4..).unwrap_or("").to_string());
        if sep != b'-' {
            return Ok(Reply { code, lines });
        }
    }
}

/// Dot-stuffs a message for DATA and appends the terminating `.`: each line that starts
/// with `.` gets another; a message not ending in CRLF gets one.
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut at_line_start = true;
    for &b in data {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !data.is_empty() && !data.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Reverses [`dot_stuff`] on the lines of a DATA phase, one line at a time: `None` for the
/// terminating `.` line.
pub fn unstuff_line(line: &[u8]) -> Option<&[u8]> {
    let body = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line);
    if body == b"." {
        return None;
    }
    Some(line.strip_prefix(b".").unwrap_or(line))
}

/// The domain of an address (lowercased); `None` for the null path or an address without one.
pub fn domain_of(addr: &str) -> Option<String> {
    let (_, d) = addr.rsplit_once('@')?;
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_round_trips() {
        let msg = b"Subject: x\r\n\r\n.hidden\r\n..two\r\nend\r\n";
        let stuffed = dot_stuff(msg);
        assert!(stuffed.ends_with(b"end\r\n.\r\n"));
        let mut back = Vec::new();
        for line in stuffed.split_inclusive(|&b| b == b'\n') {
            match unstuff_line(line) {
                Some(l) => back.extend_from_slice(l),
                None => break,
            }
        }
        assert_eq!(back, msg);
    }

    #[test]
    fn domains_are_lowercased() {
        assert_eq!(domain_of("A@MinFin.Gov.KZ"), Some("minfin.gov.kz".into()));
        assert_eq!(domain_of(""), None);
    }
}
