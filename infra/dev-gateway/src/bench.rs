//! What the benchmark binaries share: arguments, a WhatsApp text message body, percentiles.

use serde_json::json;

/// `--name N` from the command line, or `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A webhook body carrying one text message from `from` to business number `number`, sent now.
pub fn text_message(number: &str, from: &str, wamid: &str, body: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": number },
            "contacts": [{ "profile": { "name": format!("Bench {from}") }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": { "body": body } }]
        }}]}]
    }))
    .expect("a JSON value serializes")
}

/// The `p`th percentile (nearest rank) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// One line: count, p50, p95, p99 and max of latencies in milliseconds.
pub fn report(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    println!(
        "{name:<40} n={:<5} p50={:>7.1} ms  p95={:>7.1} ms  p99={:>7.1} ms  max={:>7.1} ms",
        samples.len(),
        percentile(&samples, 50.0),
        percentile(&samples, 95.0),
        percentile(&samples, 99.0),
        samples.last().copied().unwrap_or(f64::NAN)
    );
}

/// CPU time (user + system, seconds) a process has used so far, from `/proc/{pid}/stat`; `None`
/// off Linux. `pid` `None` is this process.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or("/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux we run on.
    Some((utime + stime) / 100.0)
}

/// CPU used by each moto server and by this process over a phase, as a share of one core.
pub struct CpuMeter {
    /// The moto servers: SQS, S3, ... first, then DynamoDB (`testing::moto_pids`).
    moto: Vec<u32>,
    start: std::time::Instant,
    moto_cpu: Vec<Option<f64>>,
    own_cpu: Option<f64>,
}

impl CpuMeter {
    pub fn start(moto: Vec<u32>) -> Self {
        let moto_cpu = moto.iter().map(|p| cpu_seconds(Some(*p))).collect();
        CpuMeter { moto, start: std::time::Instant::now(), moto_cpu, own_cpu: cpu_seconds(None) }
    }

    /// "moto: SQS, S3, ... NN %, DynamoDB NN % of a core; this process NN %" over the time since `start`.
    pub fn report(&self) -> String {
        let wall = self.start.elapsed().as_secs_f64();
        let share = |before: Option<f64>, now: Option<f64>| match (before, now) {
            (Some(b), Some(n)) => format!("{:.0} %", (n - b) / wall * 100.0),
            _ => "n/a".to_string(),
        };
        let names = ["SQS, S3, ...", "DynamoDB"];
        let moto: Vec<String> = self
            .moto
            .iter()
            .zip(&self.moto_cpu)
            .enumerate()
            .map(|(i, (pid, before))| format!("{} {}", names.get(i).unwrap_or(&"moto"), share(*before, cpu_seconds(Some(*pid)))))
            .collect();
        let moto = if moto.is_empty() { "n/a (not started here)".to_string() } else { moto.join(", ") };
        format!(
            "moto: {moto} of a core; the functions' process (gateway, pollers, functions, load generator) {}, over {wall:.1} s",
            share(self.own_cpu, cpu_seconds(None))
        )
    }
}
