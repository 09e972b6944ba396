//! Logging set-up and the AWS call counter (every request the SDK puts on the wire, retries included).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

static DYNAMODB_CALLS: AtomicU64 = AtomicU64::new(0);
static SQS_CALLS: AtomicU64 = AtomicU64::new(0);
static S3_CALLS: AtomicU64 = AtomicU64::new(0);
static SECRETS_MANAGER_CALLS: AtomicU64 = AtomicU64::new(0);
static API_GATEWAY_CALLS: AtomicU64 = AtomicU64::new(0);
/// The same requests by operation (`GetItem`, `TransactWriteItems`, ...), for the benchmarks'
/// breakdowns. One uncontended lock per request, next to a network round trip.
static OPERATION_CALLS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// Counts the requests one AWS service client transmits.
#[derive(Debug, Clone, Copy)]
pub struct AwsCallCounter(pub AwsService);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsService {
    DynamoDb,
    Sqs,
    S3,
    SecretsManager,
    /// The Management API of the WebSocket API (live push).
    ApiGateway,
}

impl AwsService {
    fn counter(self) -> &'static AtomicU64 {
        match self {
            AwsService::DynamoDb => &DYNAMODB_CALLS,
            AwsService::Sqs => &SQS_CALLS,
            AwsService::S3 => &S3_CALLS,
            AwsService::SecretsManager => &SECRETS_MANAGER_CALLS,
            AwsService::ApiGateway => &API_GATEWAY_CALLS,
        }
    }
}

impl Intercept for AwsCallCounter {
    fn name(&self) -> &'static str {
        "AwsCallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.counter().fetch_add(1, Ordering::Relaxed);
        if let Some(operation) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            let mut calls = OPERATION_CALLS.lock().unwrap_or_else(|e| e.into_inner());
            *calls.entry(operation.name().to_string()).or_default() += 1;
        }
        Ok(())
    }
}

/// Calls made so far by this process, per operation name.
pub fn calls_by_operation() -> BTreeMap<String, u64> {
    OPERATION_CALLS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// What `later` (a [`calls_by_operation`]) adds to `earlier`, as `Op n, Op n` by count, most first.
pub fn operations_since(earlier: &BTreeMap<String, u64>, later: &BTreeMap<String, u64>) -> String {
    let mut ops: Vec<(&String, u64)> =
        later.iter().map(|(op, n)| (op, n - earlier.get(op).copied().unwrap_or(0))).filter(|(_, n)| *n > 0).collect();
    ops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ops.iter().map(|(op, n)| format!("{op} {n}")).collect::<Vec<_>>().join(", ")
}

/// Calls made so far by this process, per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AwsCalls {
    pub dynamodb: u64,
    pub sqs: u64,
    pub s3: u64,
    pub secrets_manager: u64,
    pub api_gateway: u64,
}

impl AwsCalls {
    pub fn now() -> Self {
        AwsCalls {
            dynamodb: DYNAMODB_CALLS.load(Ordering::Relaxed),
            sqs: SQS_CALLS.load(Ordering::Relaxed),
            s3: S3_CALLS.load(Ordering::Relaxed),
            secrets_manager: SECRETS_MANAGER_CALLS.load(Ordering::Relaxed),
            api_gateway: API_GATEWAY_CALLS.load(Ordering::Relaxed),
        }
    }

    pub fn total(&self) -> u64 {
        self.dynamodb + self.sqs + self.s3 + self.secrets_manager + self.api_gateway
    }

    pub fn since(&self, earlier: &AwsCalls) -> AwsCalls {
        AwsCalls {
            dynamodb: self.dynamodb - earlier.dynamodb,
            sqs: self.sqs - earlier.sqs,
            s3: self.s3 - earlier.s3,
            secrets_manager: self.secrets_manager - earlier.secrets_manager,
            api_gateway: self.api_gateway - earlier.api_gateway,
        }
    }
}

/// JSON logs for CloudWatch, level from `RUST_LOG` (default `info`). Safe to call twice.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .without_time() // CloudWatch stamps every line already
        .try_init();
}
