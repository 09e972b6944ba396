//! `make dev`: moto, every table/queue/bucket of template.yaml, the dev gateway on
//! http://127.0.0.1:3000 (MAX_PORT), queue pollers, schedules, demo data and dev tokens.
//! Ctrl-C stops everything it started.

use std::time::Duration;

use max_core::config::GraphSettings;
use max_dev::seed::{self, SeedOrg};
use max_dev::{DevOptions, DevStack, moto::Moto, repo_root};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("max-dev: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    max_core::telemetry::init_logging();
    let root = repo_root();
    let port: u16 = env("MAX_PORT").map(|p| p.parse().map_err(|_| format!("MAX_PORT={p} is not a port"))).transpose()?.unwrap_or(3000);
    let moto_port: u16 = env("MAX_MOTO_PORT").and_then(|p| p.parse().ok()).unwrap_or(0);
    let moto = tokio::task::spawn_blocking(move || Moto::start(&repo_root(), moto_port)).await.map_err(|e| e.to_string())??;

    let mut options = DevOptions::new("max-dev");
    options.port = port;
    if let Some(secret) = env("MAX_WHATSAPP_APP_SECRET") {
        options.parameters.insert("WhatsAppAppSecret".into(), secret);
    }
    if let Some(token) = env("MAX_WHATSAPP_VERIFY_TOKEN") {
        options.parameters.insert("WhatsAppVerifyToken".into(), token);
    }
    if let Some(n) = env("MAX_QUEUE_CONCURRENCY") {
        options.max_concurrency = n.parse().map_err(|_| format!("MAX_QUEUE_CONCURRENCY={n} is not a number"))?;
    }
    if let Some(secret) = env("MAX_DEV_JWT_SECRET") {
        options.jwt_secret = secret;
    }
    // A Graph API base URL switches the sandbox off and talks to Meta, with the demo number's own
    // token (MAX_DEMO_ACCESS_TOKEN, registered for it in moto's Secrets Manager like any number's).
    if let Some(base_url) = env("GRAPH_API_BASE_URL") {
        options.graph = Some(GraphSettings { base_url, timeout: Duration::from_secs(10) });
    }
    // A Twilio base URL switches the voice sandbox off: calls are placed with each organisation's
    // own account (PUT /v1/channels/voice), and Twilio must reach this stack's URL for callbacks.
    if let Some(base_url) = env("TWILIO_API_BASE_URL") {
        options.voice = Some(base_url);
    }
    if let Some(url) = env("MAX_PUBLIC_API_URL") {
        options.public_url = Some(url);
    }
    let stack = DevStack::start(&moto.endpoints, options.clone()).await?;

    let mut demo = SeedOrg::demo();
    if let Some(token) = env("MAX_DEMO_ACCESS_TOKEN") {
        demo.access_token = token;
    }
    let other = SeedOrg::other();
    for org in [&demo, &other] {
        seed::register(&stack.deps, org).await?;
        seed::whatsapp_templates(&stack.deps, stack.sandbox.as_deref(), org).await?;
        seed::bot_menu(&stack.deps, org).await?;
        seed::voice_account(&stack.deps, org).await?;
    }
    seed::demo_conversations(&stack.deps, &demo).await?;
    stack.mark_ready();

    let admin = stack.tokens.mint(&demo.id, "user_admin", "admin", "Alex Admin");
    let agent = stack.tokens.mint(&demo.id, "user_agent", "agent", "Sam Agent");
    let other_admin = stack.tokens.mint(&other.id, "user_other_admin", "admin", "Olga Other");
    let lines = [
        ("MAX_API_URL", stack.url.clone()),
        ("MAX_ADMIN_TOKEN", admin),
        ("MAX_AGENT_TOKEN", agent),
        ("MAX_OTHER_ORG_TOKEN", other_admin),
        ("MAX_ORG_ID", demo.id.clone()),
        ("MAX_PHONE_NUMBER_ID", demo.phone_number_id.clone()),
        ("MAX_WHATSAPP_APP_SECRET", options.parameters["WhatsAppAppSecret"].clone()),
        ("MAX_WHATSAPP_VERIFY_TOKEN", options.parameters["WhatsAppVerifyToken"].clone()),
        ("MAX_MOTO_URL", moto.endpoints.url.clone()),
        ("MAX_MOTO_DYNAMODB_URL", moto.endpoints.dynamodb_url.clone()),
        ("MAX_WHATSAPP_MODE", if stack.sandbox.is_some() { "sandbox".into() } else { "graph-api".into() }),
        ("MAX_VOICE_MODE", if stack.voice_sandbox.is_some() { "sandbox".into() } else { "twilio".into() }),
    ];
    let env_file: String = lines.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
    // MAX_DEV_ENV_FILE: another place (the contract test's own stack leaves .dev/env alone).
    let env_path = env("MAX_DEV_ENV_FILE").map(std::path::PathBuf::from).unwrap_or_else(|| root.join(".dev/env"));
    if let Some(dir) = env_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&env_path, &env_file).map_err(|e| e.to_string())?;

    println!("\nMAX dev stack is up (written to .dev/env):\n");
    print!("{env_file}");
    println!("\nTry:");
    println!("  source .dev/env");
    println!("  curl -s -H \"Authorization: Bearer $MAX_AGENT_TOKEN\" \"$MAX_API_URL/v1/conversations?status=open\"");
    println!(
        "  curl -s -X POST -H \"Authorization: Bearer $MAX_AGENT_TOKEN\" -H 'content-type: application/json' \\\n    -d '{{\"type\":\"text\",\"body\":\"Hello from MAX\"}}' \"$MAX_API_URL/v1/conversations/<id>/messages\" && curl -s \"$MAX_API_URL/dev/outbox\""
    );
    println!(
        "  curl -s -X POST -H 'content-type: application/json' -d '{{\"org_id\":\"{}\",\"groups\":[\"supervisor\"],\"sub\":\"u_sue\"}}' \"$MAX_API_URL/dev/tokens\"   # a token for any user",
        demo.id
    );
    println!("  curl -s \"$MAX_API_URL/dev/calls\"   # feedback calls placed (voice sandbox); answer one:");
    println!("  curl -s -X POST -H 'content-type: application/json' -d '{{\"answer\":\"human\",\"digits\":\"9\",\"speech\":\"Great service\"}}' \"$MAX_API_URL/dev/calls/<provider_call_id>\"");
    println!("\nSigned webhooks: infra/scripts/send-webhook.sh <payload.json>. Ctrl-C stops everything.");

    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    println!("\nstopping");
    drop(stack);
    drop(moto);
    let _ = std::fs::remove_file(&env_path);
    Ok(())
}
