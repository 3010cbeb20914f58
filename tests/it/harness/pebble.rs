//! Debian's `pebble` (an ACME test CA) and `pebble-challtestsrv` (its DNS) on loopback ports, one pair per
//! test, killed by pid when dropped. challtestsrv answers every name with 127.0.0.1, so the CA validates
//! against the gateway's own ports.

use super::{free_port_pair, Gateway};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the CA and the gateway in front of it are set up.
#[derive(Clone, Default)]
pub struct CaOptions {
    /// The gateway's `[acme] challenges`, as TOML.
    pub challenges: &'static str,
    pub validity_s: u64,
    /// Percent of nonces pebble rejects with `badNonce` (pebble's default is 5).
    pub nonce_reject: Option<u32>,
    /// Added to the gateway's `[admin]` section.
    pub admin_extra: &'static str,
}

/// A gateway whose ACME CA is a fresh pebble validating on its ports.
pub async fn gateway_with_ca(challenges: &'static str, validity_s: u64) -> (Gateway, Arc<Pebble>) {
    gateway_with(CaOptions { challenges, validity_s, ..CaOptions::default() }).await
}

pub async fn gateway_with(options: CaOptions) -> (Gateway, Arc<Pebble>) {
    let slot: Arc<Mutex<Option<Arc<Pebble>>>> = Arc::default();
    let keep = slot.clone();
    let gw = Gateway::start_https(options.admin_extra, move |http, https| {
        let pebble = Arc::new(Pebble::start_with(http, https, options.validity_s, options.nonce_reject));
        let toml = pebble.acme_toml(options.challenges);
        *keep.lock().unwrap() = Some(pebble);
        toml
    })
    .await;
    let pebble = slot.lock().unwrap().take().unwrap();
    (gw, pebble)
}

pub async fn certificate(gw: &Gateway, host: &str) -> Option<Value> {
    let (status, rows) = gw.api("GET", "/api/v1/certificates", None).await;
    assert_eq!(status, 200, "{rows}");
    rows.as_array()?.iter().find(|r| r["host"] == host && r["source"] == "acme").cloned()
}

pub async fn wait_status(gw: &Gateway, host: &str, want: &str) -> Value {
    for _ in 0..300 {
        if let Some(row) = certificate(gw, host).await.filter(|r| r["status"] == want) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{host} never became {want}: {:?}\n{}", certificate(gw, host).await, gw.log());
}

pub struct Pebble {
    ca: Option<Child>,
    dns_server: Child,
    pub dir: tempfile::TempDir,
    pub directory_url: String,
    /// The root of pebble's own HTTPS listener (for `[acme] ca_file`).
    pub listener_root: PathBuf,
    management: SocketAddr,
    dns_management: SocketAddr,
    config_path: PathBuf,
    dns: u16,
    nonce_reject: Option<u32>,
}

impl Pebble {
    /// A CA that validates HTTP-01 on `http_port` and TLS-ALPN-01 on `tls_port`; certificates live
    /// `validity_s` seconds.
    pub fn start(http_port: u16, tls_port: u16, validity_s: u64) -> Pebble {
        Pebble::start_with(http_port, tls_port, validity_s, None)
    }

    pub fn start_with(http_port: u16, tls_port: u16, validity_s: u64, nonce_reject: Option<u32>) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        // Below the ephemeral range, so no outgoing connection of a busy test takes them in between.
        let (acme, dns) = (free_port_pair(), free_port_pair());
        let (management, dns_management) = (acme + 1, dns + 1);
        let listener_root = write_listener_cert(&dir);
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.path().join("listener.pem"),
            "privateKey": dir.path().join("listener.key"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity_s,
        }});
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let dns_child = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns}"), "-management", &format!("127.0.0.1:{dns_management}")])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", ""])
            .stdin(Stdio::null())
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .expect("pebble-challtestsrv (Debian package pebble) must be installed: scripts/test installs it");
        let mut pebble = Pebble {
            ca: None,
            dns_server: dns_child,
            directory_url: format!("https://127.0.0.1:{acme}/dir"),
            listener_root,
            management: SocketAddr::from(([127, 0, 0, 1], management)),
            dns_management: SocketAddr::from(([127, 0, 0, 1], dns_management)),
            dir,
            config_path,
            dns,
            nonce_reject,
        };
        wait_listening(dns_management, &pebble);
        pebble.spawn_ca();
        pebble
    }

    fn spawn_ca(&mut self) {
        let log = |name: &str| {
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join(name)).unwrap()
        };
        let mut cmd = Command::new("pebble");
        cmd.arg("-config").arg(&self.config_path).args(["-dnsserver", &format!("127.0.0.1:{}", self.dns)]);
        cmd.env("PEBBLE_VA_NOSLEEP", "1");
        if let Some(percent) = self.nonce_reject {
            cmd.env("PEBBLE_WFE_NONCEREJECT", percent.to_string());
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .expect("pebble (Debian package pebble) must be installed: scripts/test installs it");
        self.ca = Some(child);
        let acme: u16 = self.directory_url.rsplit(':').next().unwrap().trim_end_matches("/dir").parse().unwrap();
        for port in [acme, self.management.port()] {
            wait_listening(port, self);
        }
    }

    /// Stops the CA and starts it again on the same ports: it has forgotten every account and order.
    pub fn restart_ca(&mut self) {
        if let Some(mut ca) = self.ca.take() {
            let _ = ca.kill();
            let _ = ca.wait();
        }
        self.spawn_ca();
    }

    /// The `[acme]` section of a gateway config that uses this CA.
    pub fn acme_toml(&self, challenges: &str) -> String {
        format!(
            "[acme]\ndirectory_url = \"{}\"\nca_file = \"{}\"\nchallenges = {challenges}\n",
            self.directory_url,
            self.listener_root.display()
        )
    }

    /// The root that issues the gateway's certificates (new at every pebble start), PEM, in a file.
    pub fn issuing_root(&self) -> PathBuf {
        let path = self.dir.path().join("issuing-root.pem");
        // The management listener presents a certificate pebble makes up itself; it is loopback-only.
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--insecure"])
            .arg(format!("https://{}/roots/0", self.management))
            .output()
            .unwrap();
        assert!(out.status.success(), "cannot fetch pebble's root: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(&path, out.stdout).unwrap();
        path
    }

    /// Makes the CA's DNS answer `host` with another loopback address, where no gateway listens.
    pub fn misdirect(&self, host: &str) {
        let body = serde_json::json!({"host": format!("{host}."), "addresses": ["127.0.0.2"]}).to_string();
        let out = Command::new("curl")
            .args(["-sS", "--fail", "-X", "POST", "-d", &body])
            .arg(format!("http://{}/add-a", self.dns_management))
            .output()
            .unwrap();
        assert!(out.status.success(), "challtestsrv refused add-a: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn log(&self) -> String {
        ["pebble.log", "pebble.err"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in self.ca.iter_mut().chain([&mut self.dns_server]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_listening(port: u16, pebble: &Pebble) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("pebble did not listen on {port}:\n{}", pebble.log());
}

/// A CA and a `localhost`/127.0.0.1 leaf for pebble's own HTTPS listener; returns the CA file.
fn write_listener_cert(dir: &tempfile::TempDir) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.path().join("listener.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("listener.key"), key.serialize_pem()).unwrap();
    let root = dir.path().join("listener-root.pem");
    std::fs::write(&root, ca_cert.pem()).unwrap();
    root
}
