//! A counting HTTP/1.1 proxy on loopback, put in front of a real peer (moto, the
//! Kubernetes emulator) to count the requests a client makes: each request is counted
//! by its `X-Amz-Target` (the AWS operation) or else by method and path, then passed on
//! unchanged; answers flow back untouched.
//!
//! Shared by the provider tests and `benches/cost.rs` (which includes this file).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Requests seen, by operation; and the switch that cuts every open connection; and
/// every request's method and target (query included), in order.
#[derive(Clone)]
pub struct Counter(
    Arc<Mutex<BTreeMap<String, u64>>>,
    Arc<watch::Sender<u64>>,
    Arc<Mutex<Vec<String>>>,
);

impl Default for Counter {
    fn default() -> Self {
        Counter(
            Arc::default(),
            Arc::new(watch::Sender::new(0)),
            Arc::default(),
        )
    }
}

impl Counter {
    /// Closes every connection open through the proxy now (a network break: a watch
    /// stream ends mid-way). New connections are taken as before.
    pub fn cut(&self) {
        self.1.send_modify(|n| *n += 1);
    }

    pub fn get(&self, op: &str) -> u64 {
        self.0.lock().unwrap().get(op).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u64 {
        self.0.lock().unwrap().values().sum()
    }
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap().clone()
    }
    /// Every request so far: `METHOD TARGET` (the path and its query, as sent).
    pub fn requests(&self) -> Vec<String> {
        self.2.lock().unwrap().clone()
    }
    fn add(&self, op: String, line: &str) {
        *self.0.lock().unwrap().entry(op).or_insert(0) += 1;
        let line = line.rsplit_once(' ').map_or(line, |(l, _)| l);
        self.2.lock().unwrap().push(line.to_string());
    }
}

/// Counts on `snapshot` minus `before`, non-zero ones.
pub fn since(now: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    now.iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// A proxy to `upstream` (`host:port`); its URL (`http://127.0.0.1:PORT`) and counter.
pub async fn start(upstream: String) -> (String, Counter) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counter = Counter::default();
    let c = counter.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (c, upstream) = (c.clone(), upstream.clone());
            let mut cut = c.1.subscribe();
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(&upstream).await {
                    tokio::select! {
                        _ = relay(client, server, c) => {}
                        _ = cut.changed() => {} // both sockets dropped: closed
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), counter)
}

/// The operation of one request head.
fn operation(head: &str) -> String {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    for l in lines {
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("x-amz-target")
        {
            let v = v.trim();
            return v.rsplit('.').next().unwrap_or(v).to_string();
        }
    }
    let path = path.split('?').next().unwrap_or(path);
    let watch = first.contains("watch=true") || first.contains("watch=1");
    format!("{method} {path}{}", if watch { " (watch)" } else { "" })
}

async fn relay(client: TcpStream, server: TcpStream, counter: Counter) -> std::io::Result<()> {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // Ended with the relay (also when a cut drops it), so both directions close.
    let back = AbortOnDrop(tokio::spawn(async move {
        tokio::io::copy(&mut sr, &mut cw).await
    }));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // One request: its head, then Content-Length bytes (or chunks, passed on as
        // they come: only the heads are counted, and a chunked body is the last thing
        // on its connection in practice for these clients).
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = cr.read(&mut chunk).await?;
            if n == 0 {
                back.0.abort();
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let first = head.split("\r\n").next().unwrap_or_default();
        counter.add(operation(&head), first);
        let length: usize = head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = cr.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let end = (head_end + length).min(buf.len());
        sw.write_all(&buf[..end]).await?;
        buf.drain(..end);
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
