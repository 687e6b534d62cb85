//! Raw TCP for what reqwest cannot express: silent or half-sent requests, stalled bodies,
//! declared lengths that never arrive, and HTTP/2 frames written by hand.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

/// The client connection preface of HTTP/2 (RFC 9113, section 3.4).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const FRAME_DATA: u8 = 0x0;
pub const FRAME_HEADERS: u8 = 0x1;
pub const FRAME_SETTINGS: u8 = 0x4;
pub const FRAME_PING: u8 = 0x6;
pub const FRAME_GOAWAY: u8 = 0x7;
pub const FLAG_ACK: u8 = 0x1;
pub const FLAG_END_STREAM: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;

/// A new TCP connection to the API listener.
pub async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connects")
}

/// Waits until the server closes `stream` (end of file or a reset), discarding what it sends;
/// `None` if it is still open after `limit`, else how long it took.
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    closed.ok().map(|()| started.elapsed())
}

/// An HTTP/1.1 answer read off a raw connection.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub body: String,
}

impl RawReply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.body))
    }
}

/// Reads one HTTP/1.1 answer (its head and a `Content-Length` body) from `stream`, or `None`
/// if it does not arrive whole within `limit`.
pub async fn read_reply(stream: &mut TcpStream, limit: Duration) -> Option<RawReply> {
    tokio::time::timeout(limit, async {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end + 4;
            }
            let read = stream.read(&mut chunk).await.ok()?;
            if read == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..read]);
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let read = stream.read(&mut chunk).await.ok()?;
            if read == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
        Some(RawReply { status, body })
    })
    .await
    .ok()
    .flatten()
}

/// Sends `request` on a new connection and reads the answer. The server may answer and close
/// before it has read the whole request, so a failed write still reads what came back.
pub async fn exchange(app: &TestApp, request: &[u8], limit: Duration) -> Option<RawReply> {
    let mut stream = connect(app).await;
    let _ = stream.write_all(request).await;
    read_reply(&mut stream, limit).await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// One HTTP/2 frame.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut bytes = vec![length[1], length[2], length[3], kind, flags];
    bytes.extend_from_slice(&stream.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The next frame, or `None` when the connection closed.
pub async fn read_frame(stream: &mut TcpStream) -> Option<Frame> {
    let mut header = [0u8; 9];
    stream.read_exact(&mut header).await.ok()?;
    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.ok()?;
    Some(Frame {
        kind: header[3],
        flags: header[4],
        stream: u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// An HPACK header block for `GET path` over plain HTTP, with literals only (no Huffman), so
/// no encoder is needed.
pub fn get_headers(path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http (static table).
    block.push(0x04); // :path, literal without indexing, name from the static table.
    block.push(u8::try_from(path.len()).unwrap());
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 0x01, b'x']); // :authority x
    block
}

/// Opens an HTTP/2 connection with prior knowledge (h2c) and asks `GET path` on stream 1; the
/// server's SETTINGS are acknowledged as they come.
pub async fn h2_get(app: &TestApp, path: &str) -> TcpStream {
    let mut stream = connect(app).await;
    let mut hello = H2_PREFACE.to_vec();
    hello.extend(frame(FRAME_SETTINGS, 0, 0, &[]));
    hello.extend(frame(
        FRAME_HEADERS,
        FLAG_END_STREAM | FLAG_END_HEADERS,
        1,
        &get_headers(path),
    ));
    stream.write_all(&hello).await.expect("sends");
    stream
}
