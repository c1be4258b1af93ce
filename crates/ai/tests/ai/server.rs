//! A loopback HTTP/1.1 server on a raw socket, so each test speaks the provider's API byte by
//! byte: whole JSON answers, server-sent events, pauses, and connections cut or watched.

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or `Null` when there was none.
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

pub struct Server {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    /// Serves on a fresh loopback port; `handler` answers each request on its socket.
    pub async fn start<F, Fut>(handler: F) -> Server
    where
        F: Fn(Recorded, TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let handler = Arc::new(handler);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (handler, seen) = (handler.clone(), seen.clone());
                tokio::spawn(async move {
                    if let Some(request) = read_request(&mut socket).await {
                        seen.lock().unwrap().push(request.clone());
                        handler(request, socket).await;
                    }
                });
            }
        });
        Server { base, requests }
    }

    /// The one request the test expected.
    pub fn only_request(&self) -> Recorded {
        let requests = self.requests.lock().unwrap();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests[0].clone()
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<Recorded> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    socket.read_exact(&mut body).await.ok()?;
    let body = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).ok()? };
    Some(Recorded { method, target, headers, body })
}

/// A whole answer with a `Content-Length`.
pub async fn respond(socket: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body).await.unwrap();
}

pub async fn json(socket: &mut TcpStream, status: &str, body: &Value) {
    respond(socket, status, "application/json", body.to_string().as_bytes()).await;
}

/// Starts an event stream, chunked as real providers send it.
pub async fn start_events(socket: &mut TcpStream) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    socket.write_all(head.as_bytes()).await.unwrap();
}

/// One server-sent event (`event:` only when named), in a chunk of its own.
pub async fn event(socket: &mut TcpStream, name: Option<&str>, data: &str) -> std::io::Result<()> {
    let mut text = String::new();
    if let Some(name) = name {
        text.push_str(&format!("event: {name}\n"));
    }
    text.push_str(&format!("data: {data}\n\n"));
    socket.write_all(format!("{:x}\r\n{text}\r\n", text.len()).as_bytes()).await?;
    socket.flush().await
}

/// Any text in a chunk of its own, so one event can be split across chunks.
pub async fn raw_chunk(socket: &mut TcpStream, text: &str) -> std::io::Result<()> {
    socket.write_all(format!("{:x}\r\n{text}\r\n", text.len()).as_bytes()).await?;
    socket.flush().await
}

/// The last chunk: the body ends properly.
pub async fn end_events(socket: &mut TcpStream) {
    let _ = socket.write_all(b"0\r\n\r\n").await;
}

/// Waits until the client closes the connection (or a read fails).
pub async fn wait_for_close(socket: &mut TcpStream) {
    let mut buffer = [0u8; 256];
    while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {}
}
