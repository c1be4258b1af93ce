//! The outbound client against real sockets on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server;

use std::time::Duration;

use futures_util::StreamExt;
use outbound::{ErrorKind, Outbound, OutboundConfig, OutboundPolicy, StatusCode};
use server::{Server, respond, start_chunked, write_chunk};

const TIMEOUT: Duration = Duration::from_secs(10);

fn open() -> OutboundPolicy {
    OutboundPolicy { allow_private_networks: true }
}

fn client(allow_private_networks: bool) -> Outbound {
    Outbound::new(OutboundConfig {
        policy: OutboundPolicy { allow_private_networks },
        ..OutboundConfig::default()
    })
    .unwrap()
}

/// A server that answers every request with `200 OK` and `hello`.
async fn hello_server() -> Server {
    Server::start(|_, mut socket| async move { respond(&mut socket, "200 OK", &[], b"hello").await }).await
}

async fn get(outbound: &Outbound, url: &str) -> Result<outbound::Response, outbound::OutboundError> {
    outbound.get(url)?.send(TIMEOUT).await
}

#[tokio::test]
async fn metadata_and_link_local_literals_are_refused_even_on_private_networks() {
    let outbound = client(true);
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:8080/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
    ] {
        let error = outbound.get(url).err().unwrap_or_else(|| panic!("{url} was accepted"));
        assert_eq!(error.kind(), ErrorKind::AddressNotAllowed, "{url}");
        assert!(error.message().contains("may never reach"), "{error}");
    }
}

#[tokio::test]
async fn private_literals_are_refused_unless_private_networks_are_allowed() {
    let server = hello_server().await;
    let url = server.url("/");

    let error = client(false).get(&url).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::AddressNotAllowed);
    assert!(error.message().starts_with("127.0.0.1 is one of the loopback"), "{error}");
    for url in [
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[fd12::1]/",
    ] {
        assert_eq!(client(false).get(url).err().unwrap().kind(), ErrorKind::AddressNotAllowed, "{url}");
    }

    let response = get(&client(true), &url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(&response.read().await.unwrap()[..], b"hello");
}

#[tokio::test]
async fn names_are_checked_after_resolution() {
    let server = hello_server().await;
    let url = format!("http://localhost:{}/", server.addr.port());

    let error = get(&client(false), &url).await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::AddressNotAllowed);
    assert!(error.message().starts_with("localhost resolves only to loopback or private"), "{error}");
    assert!(!error.message().contains("127.0.0.1"), "{error}");
    assert_eq!(server.requests(), 0, "nothing may reach the server");

    let response = get(&client(true), &url).await.unwrap();
    assert_eq!(&response.read().await.unwrap()[..], b"hello");
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn redirects_come_back_as_statuses() {
    let server = Server::start(|head, mut socket| async move {
        assert_eq!((head.method.as_str(), head.target.as_str()), ("GET", "/start"));
        respond(&mut socket, "302 Found", &["Location: http://127.0.0.1:9/elsewhere"], b"").await;
    })
    .await;

    let response = get(&client(true), &server.url("/start")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "http://127.0.0.1:9/elsewhere");
    assert_eq!(server.requests(), 1);
}

/// Streams `chunks` chunks of 1 KiB with no `Content-Length`.
async fn chunked_server(chunks: usize) -> Server {
    Server::start(move |_, mut socket| async move {
        start_chunked(&mut socket).await;
        for _ in 0..chunks {
            if write_chunk(&mut socket, &[b'x'; 1024]).await.is_err() {
                return;
            }
        }
        let _ = write_chunk(&mut socket, b"").await;
    })
    .await
}

#[tokio::test]
async fn chunked_bodies_over_the_cap_are_too_large() {
    let server = chunked_server(64).await;
    let outbound = client(true);

    let error = get(&outbound, &server.url("/")).await.unwrap().read_capped(4096).await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::TooLarge);
    assert_eq!(error.message(), "127.0.0.1 sent a body larger than the 4096 bytes allowed");

    let body = get(&outbound, &server.url("/")).await.unwrap().read_capped(64 * 1024).await.unwrap();
    assert_eq!(body.len(), 64 * 1024);
}

#[tokio::test]
async fn the_configured_maximum_is_a_ceiling_for_every_cap() {
    let server =
        Server::start(
            |_, mut socket| async move { respond(&mut socket, "200 OK", &[], &[b'x'; 2048]).await },
        )
        .await;
    let outbound =
        Outbound::new(OutboundConfig { policy: open(), max_response_bytes: 1024, ..Default::default() })
            .unwrap();

    // Refused from the declared length, before any of the body is read.
    let error = get(&outbound, &server.url("/")).await.unwrap().read_capped(usize::MAX).await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::TooLarge);
    let error = get(&outbound, &server.url("/")).await.unwrap().read().await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::TooLarge);
}

#[tokio::test]
async fn streams_end_with_too_large_past_the_cap() {
    let server = chunked_server(64).await;
    let mut stream = get(&client(true), &server.url("/")).await.unwrap().into_stream(3000);

    let mut received = 0;
    let error = loop {
        match stream.next().await.unwrap() {
            Ok(chunk) => received += chunk.len(),
            Err(error) => break error,
        }
    };
    assert_eq!(error.kind(), ErrorKind::TooLarge);
    assert!(received <= 3000, "{received}");
    assert!(stream.next().await.is_none(), "a stream ends after its first error");
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let error = get(&client(true), &format!("http://{addr}/")).await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Refused, "{error}");
    assert_eq!(error.message(), "127.0.0.1 refused the connection");
}

/// Accepts, reads the request, and then says nothing for a minute.
async fn silent_server(send_head_first: bool) -> Server {
    Server::start(move |_, mut socket| async move {
        if send_head_first {
            start_chunked(&mut socket).await;
            write_chunk(&mut socket, b"first").await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(socket);
    })
    .await
}

#[tokio::test]
async fn an_answer_slower_than_the_request_timeout_times_out() {
    let server = silent_server(false).await;
    let started = std::time::Instant::now();

    let error =
        client(true).get(&server.url("/")).unwrap().send(Duration::from_millis(300)).await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(error.message(), "127.0.0.1 did not answer within 300ms");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_stalled_body_times_out_on_reads() {
    let server = silent_server(true).await;
    let outbound = Outbound::new(OutboundConfig {
        policy: open(),
        read_timeout: Duration::from_millis(300),
        ..OutboundConfig::default()
    })
    .unwrap();

    // The request's own timeout is generous; the connection's read timeout cuts the silence.
    let response = get(&outbound, &server.url("/")).await.unwrap();
    let error = response.read().await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
}

#[tokio::test]
async fn a_stream_that_pauses_longer_than_the_request_timeout_times_out() {
    let server = silent_server(true).await;
    let response =
        client(true).get(&server.url("/")).unwrap().send(Duration::from_millis(300)).await.unwrap();
    let mut stream = response.into_stream(usize::MAX);

    assert_eq!(&stream.next().await.unwrap().unwrap()[..], b"first");
    let error = stream.next().await.unwrap().err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_error() {
    let error = get(&client(false), "https://no-such-host.invalid/v1/models").await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Dns, "{error}");
    assert_eq!(error.message(), "no-such-host.invalid does not resolve");
}

#[tokio::test]
async fn tls_to_a_server_that_does_not_speak_it_is_a_tls_error() {
    // A plain-HTTP peer: whatever it sends back is no TLS record.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });

    let error = get(&client(true), &format!("https://{addr}/")).await.err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(error.message().starts_with("TLS with 127.0.0.1 failed: "), "{error}");
}

#[tokio::test]
async fn only_http_and_https_urls_with_a_host_are_accepted() {
    let outbound = client(true);
    for url in [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com",
        "not a url",
        "http://",
        "/relative",
    ] {
        assert_eq!(outbound.get(url).err().unwrap().kind(), ErrorKind::InvalidUrl, "{url}");
    }
}

#[tokio::test]
async fn messages_name_the_host_but_never_the_path_query_or_headers() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let outbound = client(true);

    let error = outbound
        .get(&format!("http://localhost:{port}/secret-path?key=sk-hidden"))
        .unwrap()
        .secret_header(outbound::header::AUTHORIZATION, "Bearer sk-hidden")
        .send(TIMEOUT)
        .await
        .err()
        .unwrap();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("localhost"), "{shown}");
    for secret in ["secret-path", "sk-hidden"] {
        assert!(!shown.contains(secret), "{shown}");
    }

    let error = outbound
        .get("http://127.0.0.1:1/")
        .unwrap()
        .secret_header(outbound::header::AUTHORIZATION, "Bearer sk-hidden\r\nX-Injected: 1")
        .send(TIMEOUT)
        .await
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert!(!format!("{error:?}").contains("sk-hidden"), "{error:?}");
}
