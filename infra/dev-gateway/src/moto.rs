//! moto in server mode, from the project's `.venv` (installed by `infra/scripts/venv.sh`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running moto server; stopped when dropped, and by itself when this process exits.
pub struct Moto {
    pub url: String,
    child: Option<Child>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Moto {
    /// The server's process id, when this process started it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Reuses `MAX_MOTO_URL` when set, else starts one on `port` (0 picks a free one). Blocks until
    /// moto answers (a second or two).
    pub fn start(repo: &Path, port: u16) -> Result<Moto, String> {
        if let Ok(url) = std::env::var("MAX_MOTO_URL") {
            if !url.is_empty() {
                return Ok(Moto { url, child: None });
            }
        }
        let python = repo.join(".venv/bin/python");
        if !python.exists() {
            return Err(format!("{} not found: run infra/scripts/venv.sh (make dev and make test do)", python.display()));
        }
        let mut child = Command::new(&python)
            .arg(repo.join("infra/scripts/run_moto.py"))
            .arg("--port")
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting moto: {e}"))?;
        let stdout = child.stdout.take().ok_or("moto has no stdout")?;
        let mut moto = Moto { url: String::new(), child: Some(child) };
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading moto: {e}"))?;
            if let Some(url) = line.strip_prefix("ready ") {
                moto.url = url.to_string();
                return Ok(moto);
            }
        }
        Err("moto exited before it was ready".to_string())
    }
}
/// An SDK configuration for the local endpoint, with fixed test credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "max-dev"))
        .load()
        .await
}
