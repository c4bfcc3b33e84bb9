//! Port-forwarding the way the real `kubectl port-forward` (1.30+) speaks it: SPDY/3.1 tunnelled
//! through a WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`, each binary message a piece of
//! the SPDY byte stream).
//!
//! For every local connection kubectl opens two SPDY streams with the headers `streamType`
//! (`error` or `data`), `port` and `requestID`; once both exist the sim connects the pod port
//! to its target ([`Cluster::forward_pod_port`]) and copies bytes between the data stream and
//! the target. A connection that fails writes its message on the error stream. Header blocks
//! are zlib-compressed with SPDY/3's dictionary, one compression context per direction.
//! SPDY's flow control is not enforced (kubectl's SPDY library does not use it either).

use std::collections::HashMap;
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::cluster::Cluster;

/// The WebSocket subprotocol kubectl asks for.
pub(crate) const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const FLAG_FIN: u8 = 1;

/// SPDY/3's header-compression dictionary (draft 3, section 2.6.10.1): these words, each with a
/// 4-byte big-endian length, then [`DICTIONARY_TAIL`] as is.
const DICTIONARY_WORDS: [&str; 65] = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1423);
    for w in DICTIONARY_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    d
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&[0x80, 0x03]);
    f.extend_from_slice(&kind.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// The two zlib contexts of a connection.
struct Headers {
    inflate: Decompress,
    deflate: Compress,
    dictionary: Vec<u8>,
}

impl Headers {
    fn new() -> Result<Headers, String> {
        let dictionary = dictionary();
        let mut deflate = Compress::new(Compression::default(), true);
        deflate
            .set_dictionary(&dictionary)
            .map_err(|e| format!("zlib: {e}"))?;
        Ok(Headers {
            inflate: Decompress::new(true),
            deflate,
            dictionary,
        })
    }

    fn decode(&mut self, block: &[u8]) -> Result<HashMap<String, String>, String> {
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(4096);
            }
            let before = self.inflate.total_in();
            let produced_before = out.len();
            let result = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - before) as usize;
            input = &input[used..];
            match result {
                Ok(Status::StreamEnd) => break,
                Ok(_) if input.is_empty() && out.capacity() > out.len() => break,
                Ok(_) if used == 0 && out.len() == produced_before && out.capacity() > out.len() => {
                    return Err("header block: no progress".into());
                }
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&self.dictionary)
                        .map_err(|e| format!("zlib: {e}"))?;
                }
                Err(e) => return Err(format!("header block: {e}")),
            }
        }
        let mut headers = HashMap::new();
        let count = be32(&out).ok_or("short header block")?;
        let mut rest = &out[4..];
        for _ in 0..count {
            let mut field = || -> Option<String> {
                let n = be32(rest)? as usize;
                let s = String::from_utf8_lossy(rest.get(4..4 + n)?).into_owned();
                rest = &rest[4 + n..];
                Some(s)
            };
            let name = field().ok_or("bad header name")?;
            let value = field().ok_or("bad header value")?;
            headers.insert(name.to_ascii_lowercase(), value);
        }
        Ok(headers)
    }

    fn encode_empty(&mut self) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(64);
        self.deflate
            .compress_vec(&[0, 0, 0, 0], &mut out, FlushCompress::Sync)
            .map_err(|e| format!("zlib: {e}"))?;
        Ok(out)
    }
}

/// One SPDY stream kubectl opened.
struct Stream {
    request: String,
    error: bool,
}

/// A forwarded connection: its data and error streams and the target's write half.
#[derive(Default)]
struct Pair {
    data: Option<u32>,
    error: Option<u32>,
    writer: Option<OwnedWriteHalf>,
    started: bool,
}

/// What the tunnel's pod is.
pub(crate) struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Runs the SPDY side of a tunnel: raw bytes from kubectl arrive on `input`; frames for
/// kubectl go to `output`. Returns when kubectl goes away or says GOAWAY.
pub(crate) async fn serve(
    cluster: Cluster,
    pod: Pod,
    mut input: mpsc::Receiver<Vec<u8>>,
    output: mpsc::Sender<Vec<u8>>,
) {
    let mut headers = match Headers::new() {
        Ok(h) => h,
        Err(_) => return,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut streams: HashMap<u32, Stream> = HashMap::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut readers = Vec::new();
    'outer: while let Some(chunk) = input.recv().await {
        buf.extend_from_slice(&chunk);
        while buf.len() >= 8 {
            let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
            if buf.len() < 8 + len {
                break;
            }
            let frame: Vec<u8> = buf.drain(..8 + len).collect();
            let flags = frame[4];
            let payload = &frame[8..];
            if frame[0] & 0x80 == 0 {
                // A data frame: bytes for a target, or the client closing its side.
                let id = be32(&frame).unwrap_or(0) & 0x7fff_ffff;
                let Some(s) = streams.get(&id) else { continue };
                if s.error {
                    continue;
                }
                let Some(pair) = pairs.get_mut(&s.request) else {
                    continue;
                };
                if let Some(w) = pair.writer.as_mut() {
                    if !payload.is_empty() && w.write_all(payload).await.is_err() {
                        pair.writer = None;
                    } else if flags & FLAG_FIN != 0 {
                        let _ = w.shutdown().await;
                        pair.writer = None;
                    }
                }
                continue;
            }
            match u16::from_be_bytes([frame[2], frame[3]]) {
                SYN_STREAM => {
                    let Some(id) = be32(payload).map(|i| i & 0x7fff_ffff) else {
                        break 'outer;
                    };
                    let Ok(h) = headers.decode(payload.get(10..).unwrap_or(&[])) else {
                        break 'outer;
                    };
                    let Ok(block) = headers.encode_empty() else {
                        break 'outer;
                    };
                    let mut reply = id.to_be_bytes().to_vec();
                    reply.extend_from_slice(&block);
                    if output.send(control(SYN_REPLY, 0, &reply)).await.is_err() {
                        break 'outer;
                    }
                    let port: u16 = h.get("port").and_then(|p| p.parse().ok()).unwrap_or(0);
                    let request = h.get("requestid").cloned().unwrap_or_default();
                    let error = h.get("streamtype").map(String::as_str) == Some("error");
                    streams.insert(
                        id,
                        Stream {
                            request: request.clone(),
                            error,
                        },
                    );
                    let pair = pairs.entry(request).or_default();
                    if error {
                        pair.error = Some(id);
                    } else {
                        pair.data = Some(id);
                    }
                    if let (Some(data_id), Some(error_id), false) = (pair.data, pair.error, pair.started) {
                        pair.started = true;
                        match connect(&cluster, &pod, port).await {
                            Ok(tcp) => {
                                let (mut read, write) = tcp.into_split();
                                pair.writer = Some(write);
                                let out = output.clone();
                                readers.push(tokio::spawn(async move {
                                    let mut chunk = vec![0u8; 32 * 1024];
                                    loop {
                                        match read.read(&mut chunk).await {
                                            Ok(0) | Err(_) => break,
                                            Ok(n) => {
                                                if out.send(data(data_id, 0, &chunk[..n])).await.is_err() {
                                                    return;
                                                }
                                            }
                                        }
                                    }
                                    let _ = out.send(data(data_id, FLAG_FIN, &[])).await;
                                    let _ = out.send(data(error_id, FLAG_FIN, &[])).await;
                                }));
                            }
                            Err(message) => {
                                let sent = output
                                    .send(data(error_id, FLAG_FIN, message.as_bytes()))
                                    .await
                                    .is_ok()
                                    && output.send(data(data_id, FLAG_FIN, &[])).await.is_ok();
                                if !sent {
                                    break 'outer;
                                }
                            }
                        }
                    }
                }
                RST_STREAM => {
                    if let Some(s) = be32(payload).and_then(|id| streams.remove(&(id & 0x7fff_ffff)))
                        && !s.error
                        && let Some(pair) = pairs.get_mut(&s.request)
                        && let Some(mut w) = pair.writer.take()
                    {
                        let _ = w.shutdown().await;
                    }
                }
                PING if output.send(frame.clone()).await.is_err() => break 'outer,
                GOAWAY => break 'outer,
                _ => {} // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do.
            }
        }
    }
    for pair in pairs.values_mut() {
        if let Some(mut w) = pair.writer.take() {
            let _ = w.shutdown().await;
        }
    }
    // Give the targets a moment to answer what they got, then stop.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        for r in &mut readers {
            let _ = r.await;
        }
    })
    .await;
    for r in readers {
        r.abort();
    }
}

async fn connect(cluster: &Cluster, pod: &Pod, port: u16) -> Result<tokio::net::TcpStream, String> {
    let refused = |why: String| {
        format!(
            "error forwarding port {port} to pod {}, uid : failed to connect to localhost:{port} inside namespace \"{}/{}\": {why}",
            pod.uid, pod.namespace, pod.name
        )
    };
    let Some(addr) = cluster
        .state
        .port_forwards
        .target(&pod.namespace, &pod.name, port)
    else {
        return Err(refused(format!(
            "dial tcp4 127.0.0.1:{port}: connect: connection refused"
        )));
    };
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(refused(format!("dial tcp4 127.0.0.1:{port}: {e}"))),
        Err(_) => Err(refused(format!("dial tcp4 127.0.0.1:{port}: i/o timeout"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_spdy3s() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        // zlib identifies a preset dictionary by its Adler-32 checksum.
        let mut c = Compress::new(Compression::default(), true);
        assert_eq!(c.set_dictionary(&d).unwrap(), 0xe3c6_a7c2);
    }

    #[test]
    fn header_blocks_round_trip_through_the_shared_contexts() {
        let mut client = Headers::new().unwrap();
        let mut server = Headers::new().unwrap();
        let mut block = Vec::new();
        let pairs = [("streamtype", "data"), ("port", "9090"), ("requestid", "0")];
        block.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
        for (k, v) in pairs {
            block.extend_from_slice(&(k.len() as u32).to_be_bytes());
            block.extend_from_slice(k.as_bytes());
            block.extend_from_slice(&(v.len() as u32).to_be_bytes());
            block.extend_from_slice(v.as_bytes());
        }
        for _ in 0..2 {
            let mut compressed = Vec::with_capacity(256);
            client
                .deflate
                .compress_vec(&block, &mut compressed, FlushCompress::Sync)
                .unwrap();
            let h = server.decode(&compressed).unwrap();
            assert_eq!(h["port"], "9090");
            assert_eq!(h["streamtype"], "data");
        }
        let empty = server.encode_empty().unwrap();
        assert_eq!(client.decode(&empty).unwrap().len(), 0);
    }

    #[test]
    fn frames_have_spdy3_headers() {
        assert_eq!(
            control(PING, 0, &[0, 0, 0, 1]),
            [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]
        );
        assert_eq!(data(5, FLAG_FIN, b"ab"), [0, 0, 0, 5, 1, 0, 0, 2, b'a', b'b']);
    }
}
