//! The real protocol peers the provider tests talk to, on loopback.
//!
//! `scripts/test.sh` (which `.ci/run` calls) starts each peer once and exports where it
//! listens (`SPHERE_TEST_MOTO_URL`, `SPHERE_TEST_KUBE_URL`, `SPHERE_TEST_KAFKA`). When a variable
//! is not set (a developer running `cargo test` by hand), the test process starts the
//! peer itself on a free port, from `.ci/venv/bin` or the PATH, and the peer ends with
//! the test process. A peer that is not installed fails the test with what to install.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free loopback port (bound, then released for the peer to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A loopback address where nothing listens (connection refused).
pub fn closed_addr() -> SocketAddr {
    let port = free_port();
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A loopback address that accepts connections and never answers (a slow peer). The
/// listener lives as long as the test process.
pub fn silent_addr() -> SocketAddr {
    static SILENT: OnceLock<SocketAddr> = OnceLock::new();
    *SILENT.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                held.push(conn); // keep it open, say nothing
            }
        });
        addr
    })
}

/// A program from the project's venv (`.ci/venv/bin`) or else the PATH.
pub fn tool(name: &str) -> Option<PathBuf> {
    let venv = repo().join(".ci/venv/bin").join(name);
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Waits until `port` on loopback accepts connections.
pub fn wait_for_port(port: u16, what: &str, timeout: Duration) {
    let start = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            start.elapsed() < timeout,
            "{what} did not start listening on {addr} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `program args` from a thread that lives as long as the process, with the
/// parent-death signal set, so the peer ends with the test process.
pub fn spawn_peer(program: PathBuf, args: Vec<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it only sets this child's death signal.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn();
        let ok = child.is_ok();
        tx.send(child.map(|_| ()).map_err(|e| e.to_string()))
            .expect("report spawn");
        if ok {
            // The death signal fires when this thread ends: keep it alive.
            loop {
                std::thread::park();
            }
        }
    });
    rx.recv()
        .expect("spawn report")
        .unwrap_or_else(|e| panic!("starting a test peer failed: {e}"));
}

fn from_env_or(var: &str, start: impl FnOnce() -> String) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => start(),
    }
}

/// moto's AWS server: the endpoint URL (`http://127.0.0.1:PORT`).
pub fn moto() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        from_env_or("SPHERE_TEST_MOTO_URL", || {
            let bin = tool("moto_server").unwrap_or_else(|| {
                panic!(
                    "moto_server is not installed: `scripts/test.sh` installs it into .ci/venv \
                     (pip install 'moto[server]'), or set SPHERE_TEST_MOTO_URL"
                )
            });
            let port = free_port();
            spawn_peer(
                bin,
                vec![
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                ],
            );
            wait_for_port(port, "moto_server", Duration::from_secs(30));
            format!("http://127.0.0.1:{port}")
        })
    })
}

/// The Kubernetes API emulator (kmock behind `tests/peers/kube_peer.py`): its base URL.
pub fn kube() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        from_env_or("SPHERE_TEST_KUBE_URL", || {
            // `.ci/venv/bin/python3` first (where `scripts/test.sh` installs kmock), else the PATH's.
            let python = tool("python3").expect("python3");
            let has_kmock = Command::new(&python)
                .args(["-c", "import kmock"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                has_kmock,
                "kmock is not installed for {}: `scripts/test.sh` installs it into .ci/venv \
                 (pip install -r tests/peers/requirements.txt), or set SPHERE_TEST_KUBE_URL",
                python.display()
            );
            let port = free_port();
            spawn_peer(
                python,
                vec![
                    repo()
                        .join("tests/peers/kube_peer.py")
                        .display()
                        .to_string(),
                    "--port".into(),
                    port.to_string(),
                ],
            );
            wait_for_port(port, "the Kubernetes emulator", Duration::from_secs(30));
            format!("http://127.0.0.1:{port}")
        })
    })
}

/// The Kafka broker (tansu): its bootstrap address (`127.0.0.1:PORT`).
pub fn kafka() -> &'static str {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        from_env_or("SPHERE_TEST_KAFKA", || {
            let bin = tool("tansu").unwrap_or_else(|| {
                panic!(
                    "tansu is not installed: `scripts/test.sh` installs it \
                     (cargo install tansu --locked --features dynostore), or set SPHERE_TEST_KAFKA"
                )
            });
            let port = free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            spawn_peer(
                bin,
                vec![
                    "broker".into(),
                    "--listener-url".into(),
                    url.clone(),
                    "--advertised-listener-url".into(),
                    url,
                    "--storage-engine".into(),
                    "memory://tansu/".into(),
                ],
            );
            wait_for_port(port, "tansu", Duration::from_secs(30));
            format!("127.0.0.1:{port}")
        })
    })
}

/// A unique name for this test run (topics, secret prefixes, namespaces), so tests that
/// share one peer never see each other's data.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A tansu broker owned by one test, on its own port, that the test can stop and start
/// again on the same port (a broker outage). Memory storage ([`OwnedBroker::start`]): a
/// restarted broker has no topics; S3 storage on moto ([`OwnedBroker::start_on_s3`]):
/// a restarted broker has what it had. It is killed when dropped, and ends with the
/// thread that started it.
pub struct OwnedBroker {
    port: u16,
    child: Option<std::process::Child>,
    /// `--storage-engine`, and the environment it needs.
    engine: String,
    env: Vec<(String, String)>,
}

impl OwnedBroker {
    /// Starts tansu on `port` and waits until it listens. Needs `tansu` installed even
    /// when `SPHERE_TEST_KAFKA` names a shared broker.
    pub fn start(port: u16) -> OwnedBroker {
        let mut b = OwnedBroker {
            port,
            child: None,
            engine: "memory://tansu/".into(),
            env: Vec::new(),
        };
        b.resume();
        b
    }

    /// Starts tansu on `port` storing in `bucket` on moto's S3 (made by the caller),
    /// so that a restart keeps the topics, as a Kafka broker does.
    pub fn start_on_s3(port: u16, moto_url: &str, bucket: &str) -> OwnedBroker {
        let env = [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT", moto_url),
            ("AWS_ALLOW_HTTP", "true"),
        ];
        let mut b = OwnedBroker {
            port,
            child: None,
            engine: format!("s3://{bucket}/"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        b.resume();
        b
    }

    /// The bootstrap address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker again on the same port.
    pub fn resume(&mut self) {
        use std::os::unix::process::CommandExt;
        assert!(self.child.is_none(), "the broker is running");
        let bin = tool("tansu").unwrap_or_else(|| {
            panic!(
                "tansu is not installed: `scripts/test.sh` installs it \
                 (cargo install tansu --locked --features dynostore)"
            )
        });
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(bin);
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", &self.engine])
        .envs(self.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it only sets this child's death signal.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().expect("starting tansu"));
        wait_for_port(self.port, "tansu", Duration::from_secs(30));
    }

    /// Kills the broker and waits until its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "tansu still listens on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for OwnedBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `DIR/kubeconfig`: two contexts on the Kubernetes emulator, `use1` and `euw1`, each
/// on its own namespace of `ns` (the configured-platform tests' two production clusters).
pub fn kubeconfig_two_contexts(dir: &std::path::Path, ns: [&str; 2]) {
    let kube = kube();
    std::fs::write(
        dir.join("kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: peer\n  cluster: {{server: \"{kube}\"}}\n\
             contexts:\n- name: use1\n  context: {{cluster: peer, user: u, namespace: {a}}}\n\
             - name: euw1\n  context: {{cluster: peer, user: u, namespace: {b}}}\n\
             users:\n- name: u\n  user: {{token: test}}\ncurrent-context: use1\n",
            a = ns[0],
            b = ns[1]
        ),
    )
    .expect("kubeconfig");
}
