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
