//! moto in server mode, from the project's `.venv` (installed by `infra/scripts/venv.sh`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use aws_types::origin::Origin;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// Where the local AWS services answer: DynamoDB on a moto process of its own, every other
/// service (SQS, S3, ...) on another. On AWS the services are separate fleets; one Python process
/// for all of them made the dev stack one core's worth of AWS (at 80 msg/s moto sat at 99 % of a
/// core while the functions used a quarter of one), so DynamoDB gets a process, and a core, of
/// its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAws {
    /// SQS, S3 and every service but DynamoDB.
    pub url: String,
    pub dynamodb_url: String,
}

impl LocalAws {
    /// Every service at one endpoint (a single moto, or any AWS-compatible endpoint).
    pub fn at(url: &str) -> LocalAws {
        LocalAws { url: url.to_string(), dynamodb_url: url.to_string() }
    }
}

/// The running moto servers; stopped when dropped, and by themselves when this process exits.
pub struct Moto {
    pub endpoints: LocalAws,
    children: Vec<Child>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Moto {
    /// The servers' process ids, when this process started them.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Reuses `MAX_MOTO_URL` (and `MAX_MOTO_DYNAMODB_URL`, else the same) when set; else starts
    /// moto for SQS, S3, ... on `port` (0 picks a free one) and one for DynamoDB on a free port.
    /// Blocks until both answer (a second or two; they start side by side).
    pub fn start(repo: &Path, port: u16) -> Result<Moto, String> {
        if let Some(url) = std::env::var("MAX_MOTO_URL").ok().filter(|u| !u.is_empty()) {
            let dynamodb_url = std::env::var("MAX_MOTO_DYNAMODB_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| url.clone());
            return Ok(Moto { endpoints: LocalAws { url, dynamodb_url }, children: Vec::new() });
        }
        let python = repo.join(".venv/bin/python");
        if !python.exists() {
            return Err(format!("{} not found: run infra/scripts/venv.sh (make dev and make test do)", python.display()));
        }
        let spawn = |port: u16| {
            Command::new(&python)
                .arg(repo.join("infra/scripts/run_moto.py"))
                .arg("--port")
                .arg(port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting moto: {e}"))
        };
        let mut moto = Moto { endpoints: LocalAws::at(""), children: vec![spawn(port)?, spawn(0)?] };
        let mut urls = Vec::new();
        for child in &mut moto.children {
            let stdout = child.stdout.take().ok_or("moto has no stdout")?;
            let ready = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|line| line.strip_prefix("ready ").map(str::to_string))
                .ok_or("moto exited before it was ready")?;
            urls.push(ready);
        }
        moto.endpoints = LocalAws { url: urls[0].clone(), dynamodb_url: urls[1].clone() };
        Ok(moto)
    }
}

/// Each service's endpoint for the SDK: DynamoDB's own, the shared one for the rest.
#[derive(Debug)]
struct ServiceEndpoints(LocalAws);

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.env() == "AWS_ENDPOINT_URL" && key.service_id() == "DynamoDB").then(|| self.0.dynamodb_url.clone())
    }
}

/// An SDK configuration for the local endpoints, with fixed test credentials.
pub async fn sdk_config(endpoints: &LocalAws) -> aws_config::SdkConfig {
    let loaded = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoints.url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "max-dev"))
        .load()
        .await;
    let mut config = loaded.into_builder();
    // The shared endpoint stays (S3 keys its path-style addressing off it) but counts as one from
    // the environment, so that a service's own endpoint (DynamoDB's) comes first, as
    // `AWS_ENDPOINT_URL_DYNAMODB` would on AWS's SDKs.
    config.insert_origin("endpoint_url", Origin::shared_environment_variable());
    config.service_config(ServiceEndpoints(endpoints.clone())).build()
}
