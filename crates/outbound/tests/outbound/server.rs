//! A loopback HTTP/1.1 server written on a raw socket, so tests control every byte and every
//! pause: chunked bodies without a length, answers that never come, connections cut halfway.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The head of a request the server received.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    pub target: String,
}

pub struct Server {
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl Server {
    /// Serves on 127.0.0.1, a fresh port; `handler` gets each request's head and its socket.
    pub async fn start<F, Fut>(handler: F) -> Server
    where
        F: Fn(Head, TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let handler = Arc::new(handler);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let handler = handler.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    if let Some(head) = read_head(&mut socket).await {
                        counter.fetch_add(1, Ordering::SeqCst);
                        handler(head, socket).await;
                    }
                });
            }
        });
        Server { addr, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads up to the blank line that ends a request head (these tests send no bodies).
async fn read_head(socket: &mut TcpStream) -> Option<Head> {
    let mut buffer = Vec::new();
    let mut byte = [0u8; 1];
    while !buffer.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buffer.push(byte[0]);
    }
    let text = String::from_utf8(buffer).ok()?;
    let mut parts = text.lines().next()?.split(' ');
    Some(Head { method: parts.next()?.to_owned(), target: parts.next()?.to_owned() })
}

/// A complete answer with a `Content-Length`.
pub async fn respond(socket: &mut TcpStream, status: &str, headers: &[&str], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body).await.unwrap();
}

/// Starts a chunked answer: no `Content-Length`, so only the client's own counting can cap it.
pub async fn start_chunked(socket: &mut TcpStream) {
    socket.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
}

/// Writes one chunk; errors are ignored because the client may already have hung up.
pub async fn write_chunk(socket: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    socket.write_all(format!("{:x}\r\n", data.len()).as_bytes()).await?;
    socket.write_all(data).await?;
    socket.write_all(b"\r\n").await
}
