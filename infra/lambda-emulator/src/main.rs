//! `lambda-emulator`: a local AWS Lambda Runtime API for cold-start benchmarks.
//!
//! For every run it starts a fresh Runtime API listener and a fresh "sink"
//! listener, spawns the function binary with the usual Lambda environment
//! (`AWS_LAMBDA_RUNTIME_API` pointing at the listener, `AWS_ENDPOINT_URL` at the
//! sink), and measures:
//!
//! - init: from spawn to the binary's first `GET .../invocation/next`;
//! - invoke: from handing out the event to its `.../response` (or `.../error`);
//! - peak RSS: `VmHWM` from `/proc/<pid>/status`, read before the kill;
//! - init network calls: TCP connections the sink accepted before the first
//!   `next` (any AWS SDK call made during init lands there).
//!
//! Values given with `--env` may contain `{sink}` (the sink's `127.0.0.1:port`)
//! and `{runtime_api}`, replaced per run.
//!
//! A dev tool, not a product: one event per run, one process per run.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

const USAGE: &str = "\
usage: lambda-emulator --binary PATH --event FILE [--runs N] [--env K=V ...] [--json]
                       [--timeout-ms MS] [--memory MB] [--function-name NAME] [--show-output]

  --binary PATH        function binary (a lambda_runtime bootstrap)
  --event FILE         JSON event delivered once per run
  --runs N             cold starts to measure (default 1)
  --env K=V            extra environment for the function (repeatable; overrides the
                       defaults; `{sink}` and `{runtime_api}` are replaced per run)
  --json               print a machine-readable summary (one JSON object) instead of text
  --timeout-ms MS      per-run limit for init and for the invocation (default 30000)
  --memory MB          AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128)
  --function-name NAME AWS_LAMBDA_FUNCTION_NAME (default: the binary's file name)
  --show-output        let the function's stdout/stderr through (default: captured,
                       shown only when a run fails)

exit status: 0 when every run initialised and answered (a function error counts as an
answer), 1 when a run failed (crash, init error, timeout), 2 on bad usage.";

const API: &str = "/2018-06-01/runtime";
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";

// ---------------------------------------------------------------- arguments

struct Args {
    binary: PathBuf,
    event: PathBuf,
    runs: usize,
    env: Vec<(String, String)>,
    json: bool,
    timeout: Duration,
    memory: u32,
    function_name: String,
    show_output: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut binary, mut event, mut function_name) = (None, None, None);
    let mut args = Args {
        binary: PathBuf::new(),
        event: PathBuf::new(),
        runs: 1,
        env: Vec::new(),
        json: false,
        timeout: Duration::from_millis(30_000),
        memory: 128,
        function_name: String::new(),
        show_output: false,
    };
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--binary" => binary = Some(PathBuf::from(value("--binary")?)),
            "--event" => event = Some(PathBuf::from(value("--event")?)),
            "--runs" => {
                args.runs = value("--runs")?
                    .parse()
                    .map_err(|_| "--runs: not a number")?;
                if args.runs == 0 {
                    return Err("--runs must be at least 1".into());
                }
            }
            "--env" => {
                let kv = value("--env")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--env {kv}: expected K=V"))?;
                args.env.push((k.to_string(), v.to_string()));
            }
            "--json" => args.json = true,
            "--timeout-ms" => {
                let ms: u64 = value("--timeout-ms")?
                    .parse()
                    .map_err(|_| "--timeout-ms: not a number")?;
                args.timeout = Duration::from_millis(ms);
            }
            "--memory" => {
                args.memory = value("--memory")?
                    .parse()
                    .map_err(|_| "--memory: not a number")?
            }
            "--function-name" => function_name = Some(value("--function-name")?),
            "--show-output" => args.show_output = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    args.binary = binary.ok_or("--binary is required")?;
    args.event = event.ok_or("--event is required")?;
    args.function_name = match function_name {
        Some(n) => n,
        None => args
            .binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into()),
    };
    Ok(args)
}

// ---------------------------------------------------------------- Runtime API

/// What the Runtime API and the sink report to the run driver.
enum Ev {
    Next(Instant),
    Delivered(String, Instant),
    Response(String, Instant),
    Error(String, Instant, String),
    InitError(String),
    SinkConn(Instant),
}

struct Invocation {
    id: String,
    body: Bytes,
    deadline_ms: u128,
    trace_id: String,
}

struct Api {
    events: mpsc::UnboundedSender<Ev>,
    invocations: Mutex<mpsc::Receiver<Invocation>>,
    arn: String,
}

fn runtime_router(api: Arc<Api>) -> Router {
    Router::new()
        .route(&format!("{API}/invocation/next"), get(next))
        .route(&format!("{API}/invocation/{{id}}/response"), post(response))
        .route(
            &format!("{API}/invocation/{{id}}/error"),
            post(invocation_error),
        )
        .route(&format!("{API}/init/error"), post(init_error))
        .layer(DefaultBodyLimit::max(8 * 1024 * 1024))
        .with_state(api)
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    let _ = api.events.send(Ev::Next(Instant::now()));
    // Blocks until the driver hands out the run's event; after that (and when
    // the run ends) the sender is gone or silent, like a frozen sandbox.
    let inv = api.invocations.lock().await.recv().await;
    let Some(inv) = inv else {
        return (StatusCode::GONE, "run over").into_response();
    };
    let mut headers = HeaderMap::new();
    let h = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("invalid"));
    headers.insert("lambda-runtime-aws-request-id", h(&inv.id));
    headers.insert(
        "lambda-runtime-deadline-ms",
        h(&inv.deadline_ms.to_string()),
    );
    headers.insert("lambda-runtime-invoked-function-arn", h(&api.arn));
    headers.insert("lambda-runtime-trace-id", h(&inv.trace_id));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let _ = api.events.send(Ev::Delivered(inv.id, Instant::now()));
    (StatusCode::OK, headers, inv.body).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

async fn response(State(api): State<Arc<Api>>, Path(id): Path<String>, _body: Bytes) -> Response {
    let _ = api.events.send(Ev::Response(id, Instant::now()));
    accepted()
}

async fn invocation_error(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let detail = describe_error(kind, &body);
    let _ = api.events.send(Ev::Error(id, at, detail));
    accepted()
}

async fn init_error(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = api.events.send(Ev::InitError(describe_error(kind, &body)));
    accepted()
}

fn describe_error(kind: Option<String>, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let kind = field("errorType")
        .or(kind)
        .unwrap_or_else(|| "Unknown".into());
    let msg = field("errorMessage")
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    format!("{kind}: {msg}")
}

// ---------------------------------------------------------------- sink

const SINK_ANSWER: &str = concat!(
    "HTTP/1.1 400 Bad Request\r\n",
    "content-type: application/x-amz-json-1.0\r\n",
    "x-amzn-errortype: EmulatorSink\r\n",
    "content-length: 71\r\n",
    "connection: close\r\n\r\n",
    r#"{"__type":"EmulatorSink","message":"lambda-emulator sink: no AWS here"}"#,
);

/// Accepts every connection, reports it, answers 400 (not retryable, so an SDK
/// call fails fast instead of backing off) and closes: an AWS SDK or Graph API
/// call shows up here instead of leaving the machine.
async fn sink(listener: TcpListener, events: mpsc::UnboundedSender<Ev>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let _ = events.send(Ev::SinkConn(Instant::now()));
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_millis(200), sock.read(&mut buf)).await;
            let _ = sock.write_all(SINK_ANSWER.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

// ---------------------------------------------------------------- one run

#[derive(Default)]
struct RunResult {
    init_ms: Option<f64>,
    invoke_ms: Option<f64>,
    peak_rss_kib: Option<u64>,
    init_network_calls: usize,
    invoke_network_calls: usize,
    function_error: Option<String>,
    failure: Option<String>,
    output_tail: String,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Keeps the last 16 KiB a pipe produced, so the child never blocks on it.
fn drain<R: AsyncRead + Unpin + Send + 'static>(r: Option<R>) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut tail = VecDeque::new();
        if let Some(mut r) = r {
            let mut buf = [0u8; 8192];
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tail.extend(&buf[..n]);
                while tail.len() > 16 * 1024 {
                    tail.pop_front();
                }
            }
        }
        tail.into_iter().collect()
    })
}

async fn run_once(args: &Args, run: usize, event: &Bytes) -> std::io::Result<RunResult> {
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (inv_tx, inv_rx) = mpsc::channel(1);
    let arn = format!(
        "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
        args.function_name
    );
    let api = Arc::new(Api {
        events: ev_tx.clone(),
        invocations: Mutex::new(inv_rx),
        arn,
    });

    let runtime_listener = TcpListener::bind("127.0.0.1:0").await?;
    let runtime_addr = runtime_listener.local_addr()?;
    let sink_listener = TcpListener::bind("127.0.0.1:0").await?;
    let sink_addr = sink_listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(runtime_listener, runtime_router(api)).await;
    });
    let sink_task = tokio::spawn(sink(sink_listener, ev_tx));

    let runtime_api = runtime_addr.to_string();
    let sink_host = sink_addr.to_string();
    let name = &args.function_name;
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", args.memory.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("2018/06/01/[$LATEST]emulator{run:04}"),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
        ("AWS_REGION", REGION.into()),
        ("AWS_DEFAULT_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", "AKIDEMULATOR00000000".into()),
        ("AWS_SECRET_ACCESS_KEY", "emulator-dummy-secret".into()),
        ("AWS_SESSION_TOKEN", "emulator-dummy-session".into()),
        ("AWS_ENDPOINT_URL", format!("http://{sink_host}")),
        // Credentials come from the environment, as on Lambda; never let a
        // fallback reach for the instance metadata service off this machine.
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("_HANDLER", "bootstrap".into()),
        ("LAMBDA_TASK_ROOT", "/var/task".into()),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
        ("TZ", ":UTC".into()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into()),
        ("LANG", "en_US.UTF-8".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in &args.env {
        let v = v
            .replace("{sink}", &sink_host)
            .replace("{runtime_api}", &runtime_api);
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v));
    }

    let mut cmd = tokio::process::Command::new(&args.binary);
    cmd.env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if args.show_output {
        cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }

    let mut result = RunResult::default();
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());

    let mut sink_times = Vec::new();
    let mut first_next: Option<Instant> = None;
    let mut delivered: Option<(String, Instant)> = None;
    let mut limit = tokio::time::Instant::now() + args.timeout;
    let request_id = format!(
        "{:08x}-{:04x}-4e00-8000-{:012x}",
        epoch_ms() as u32,
        run,
        started.elapsed().as_nanos() as u64 & 0xffff_ffff_ffff
    );
    loop {
        tokio::select! {
            ev = ev_rx.recv() => match ev {
                Some(Ev::SinkConn(at)) => sink_times.push(at),
                Some(Ev::Next(at)) if first_next.is_none() => {
                    first_next = Some(at);
                    result.init_ms = Some(ms(at - started));
                    limit = tokio::time::Instant::now() + args.timeout;
                    let secs = (epoch_ms() / 1000) as u32;
                    let inv = Invocation {
                        id: request_id.clone(),
                        body: event.clone(),
                        deadline_ms: epoch_ms() + args.timeout.as_millis(),
                        trace_id: format!("Root=1-{secs:08x}-{:024x};Parent={:016x};Sampled=0", run as u128 + 1, run as u64 + 1),
                    };
                    let _ = inv_tx.send(inv).await;
                }
                Some(Ev::Next(_)) => {}
                Some(Ev::Delivered(id, at)) => delivered = Some((id, at)),
                Some(Ev::Response(id, at)) | Some(Ev::Error(id, at, _)) if id != request_id => {
                    let _ = at;
                    result.failure = Some(format!("answer for unknown request id {id}"));
                    break;
                }
                Some(Ev::Response(_, at)) => {
                    result.invoke_ms = delivered.as_ref().map(|(_, d)| ms(at - *d));
                    break;
                }
                Some(Ev::Error(_, at, detail)) => {
                    result.invoke_ms = delivered.as_ref().map(|(_, d)| ms(at - *d));
                    result.function_error = Some(detail);
                    break;
                }
                Some(Ev::InitError(detail)) => {
                    result.failure = Some(format!("init error: {detail}"));
                    break;
                }
                None => {
                    result.failure = Some("runtime API closed".into());
                    break;
                }
            },
            status = child.wait() => {
                let phase = if first_next.is_none() { "during init" } else { "during the invocation" };
                result.failure = Some(match status {
                    Ok(s) => format!("process exited {phase} ({s})"),
                    Err(e) => format!("process wait failed {phase}: {e}"),
                });
                break;
            }
            _ = tokio::time::sleep_until(limit) => {
                let phase = if first_next.is_none() { "init (no `next` request)" } else { "the invocation" };
                result.failure = Some(format!("timed out after {} ms waiting for {phase}", args.timeout.as_millis()));
                break;
            }
        }
    }

    result.peak_rss_kib = pid.and_then(vm_hwm_kib);
    let _ = child.start_kill();
    let _ = child.wait().await;
    // Connections accepted up to the kill, split at the first `next`.
    while let Ok(ev) = ev_rx.try_recv() {
        if let Ev::SinkConn(at) = ev {
            sink_times.push(at);
        }
    }
    let cut = first_next.unwrap_or_else(Instant::now);
    result.init_network_calls = sink_times.iter().filter(|t| **t < cut).count();
    result.invoke_network_calls = sink_times.len() - result.init_network_calls;
    drop(inv_tx); // releases any `next` still waiting
    server.abort();
    sink_task.abort();
    let (out, err) = (out.await.unwrap_or_default(), err.await.unwrap_or_default());
    if result.failure.is_some() || result.function_error.is_some() {
        let mut tail = String::from_utf8_lossy(&out).into_owned();
        tail.push_str(&String::from_utf8_lossy(&err));
        let skip = tail.chars().count().saturating_sub(4000);
        result.output_tail = tail.chars().skip(skip).collect();
    }
    Ok(result)
}

// ---------------------------------------------------------------- summary

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Nearest-rank percentile.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v
}

fn round2(v: Option<f64>) -> Value {
    v.map(|x| json!((x * 100.0).round() / 100.0))
        .unwrap_or(Value::Null)
}

fn fmt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("lambda-emulator: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let event = match std::fs::read(&args.event) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            eprintln!("lambda-emulator: cannot read {}: {e}", args.event.display());
            return ExitCode::from(2);
        }
    };
    if serde_json::from_slice::<Value>(&event).is_err() {
        eprintln!(
            "lambda-emulator: warning: {} is not valid JSON; delivering it as is",
            args.event.display()
        );
    }

    let mut results = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        let r = match run_once(&args, run, &event).await {
            Ok(r) => r,
            Err(e) => RunResult {
                failure: Some(format!("could not start: {e}")),
                ..Default::default()
            },
        };
        if !args.json {
            let status = match (&r.failure, &r.function_error) {
                (Some(f), _) => format!("FAILED: {f}"),
                (None, Some(e)) => format!("function error: {e}"),
                (None, None) => "ok".into(),
            };
            println!(
                "run {run:>3}  init {:>8} ms  invoke {:>8} ms  peak RSS {:>6} MiB  init net {}  {status}",
                fmt(r.init_ms),
                fmt(r.invoke_ms),
                r.peak_rss_kib
                    .map(|k| format!("{:.1}", mib(k)))
                    .unwrap_or_else(|| "-".into()),
                r.init_network_calls,
            );
        }
        if (r.failure.is_some() || r.function_error.is_some()) && !r.output_tail.is_empty() {
            eprintln!(
                "--- run {run}: function output (tail) ---\n{}\n---",
                r.output_tail.trim_end()
            );
        }
        results.push(r);
    }

    let failed = results.iter().filter(|r| r.failure.is_some()).count();
    let function_errors = results
        .iter()
        .filter(|r| r.failure.is_none() && r.function_error.is_some())
        .count();
    let init = sorted(results.iter().filter_map(|r| r.init_ms));
    let invoke = sorted(results.iter().filter_map(|r| r.invoke_ms));
    let rss = sorted(results.iter().filter_map(|r| r.peak_rss_kib.map(mib)));
    let init_net: usize = results.iter().map(|r| r.init_network_calls).sum();
    let invoke_net: usize = results.iter().map(|r| r.invoke_network_calls).sum();

    if args.json {
        let per_run: Vec<Value> = results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "run": i + 1,
                    "init_ms": round2(r.init_ms),
                    "invoke_ms": round2(r.invoke_ms),
                    "peak_rss_mib": round2(r.peak_rss_kib.map(mib)),
                    "init_network_calls": r.init_network_calls,
                    "invoke_network_calls": r.invoke_network_calls,
                    "function_error": r.function_error,
                    "failure": r.failure,
                })
            })
            .collect();
        let summary = json!({
            "binary": args.binary.display().to_string(),
            "function_name": args.function_name,
            "event": args.event.display().to_string(),
            "runs": args.runs,
            "ok": args.runs - failed - function_errors,
            "function_errors": function_errors,
            "failed": failed,
            "init_ms": {
                "median": round2(median(&init)),
                "p90": round2(percentile(&init, 90.0)),
                "max": round2(init.last().copied()),
                "min": round2(init.first().copied()),
            },
            "invoke_ms": {
                "median": round2(median(&invoke)),
                "p90": round2(percentile(&invoke, 90.0)),
                "max": round2(invoke.last().copied()),
            },
            "peak_rss_mib": { "max": round2(rss.last().copied()), "median": round2(median(&rss)) },
            "init_network_calls": init_net,
            "invoke_network_calls": invoke_net,
            "per_run": per_run,
        });
        println!("{summary}");
    } else {
        println!(
            "summary: {} runs, {} ok, {function_errors} function errors, {failed} failed",
            args.runs,
            args.runs - failed - function_errors
        );
        println!(
            "  init ms      median {}  p90 {}  max {}",
            fmt(median(&init)),
            fmt(percentile(&init, 90.0)),
            fmt(init.last().copied())
        );
        println!("  invoke ms    median {}", fmt(median(&invoke)));
        println!("  peak RSS MiB max {}", fmt(rss.last().copied()));
        println!("  init network calls {init_net} (during invocations: {invoke_net})");
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_nearest_rank_p90() {
        let v = sorted([5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0].into_iter());
        assert_eq!(median(&v), Some(5.5));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(median(&v[..3]), Some(2.0));
        assert_eq!(percentile(&[], 90.0), None);
    }

    #[test]
    fn sink_answer_is_well_formed() {
        let (head, body) = SINK_ANSWER.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }

    #[test]
    fn error_description_prefers_the_body() {
        let d = describe_error(Some("H".into()), br#"{"errorType":"T","errorMessage":"m"}"#);
        assert_eq!(d, "T: m");
        assert_eq!(describe_error(Some("H".into()), b"raw"), "H: raw");
    }
}
