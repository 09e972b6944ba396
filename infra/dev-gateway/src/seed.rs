//! Demo data: two organisations with a WhatsApp number each, and a few conversations that came in
//! through the real inbound path.

use chrono::Utc;
use max_core::app::channels;
use max_core::app::inbound::process_job;
use max_core::config::Deps;
use max_core::domain::channel::{ChannelRegistration, VoiceRegistration};
use max_core::domain::webhook::{InboundJob, read_changes};
use serde_json::json;

/// An organisation of the demo (or of a test).
#[derive(Debug, Clone)]
pub struct SeedOrg {
    pub id: String,
    pub name: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub waba_id: String,
    /// The number's Graph access token (a stand-in: the sandbox and the tests' Graph fake accept any).
    pub access_token: String,
}

impl SeedOrg {
    /// The demo organisation uses the number of Meta's example payloads, so every fixture in
    /// `../shared/fixtures/whatsapp/` lands in it.
    pub fn demo() -> Self {
        SeedOrg {
            id: "org_demo".into(),
            name: "Demo Motors".into(),
            phone_number_id: "106540352242922".into(),
            display_phone_number: "15550783881".into(),
            waba_id: "102290129340398".into(),
            access_token: "EAAG-dev-demo-token".into(),
        }
    }

    pub fn other() -> Self {
        SeedOrg {
            id: "org_other".into(),
            name: "Other Org".into(),
            phone_number_id: "209999999999999".into(),
            display_phone_number: "15550000000".into(),
            waba_id: "209999999999990".into(),
            access_token: "EAAG-dev-other-token".into(),
        }
    }
}

/// Registers the organisation's WhatsApp number with its token (with `hello_world` as the fallback
/// template), as its admin would with `POST /v1/channels/whatsapp`.
pub async fn register(deps: &Deps, org: &SeedOrg) -> Result<(), String> {
    let registration: ChannelRegistration = serde_json::from_value(json!({
        "phone_number_id": org.phone_number_id,
        "waba_id": org.waba_id,
        "display_phone_number": org.display_phone_number,
        "fallback_template": { "name": "hello_world", "language": "en_US" },
        "access_token": org.access_token,
    }))
    .map_err(|e| e.to_string())?;
    // The audit trail names the seed as the one who registered it.
    let seeder = max_core::domain::audit::AuditActor { user_id: "dev-seed".into(), role: "admin".into() };
    channels::register(&deps.channel_ports(), &org.id, &registration, &seeder, Utc::now()).await.map(|_| ()).map_err(|e| e.to_string())
}

/// The organisation's approved WhatsApp templates, as if made in Meta's tools and synced: the
/// fallback `hello_world` (en_US) and `order_shipped` (es, two body variables), which the demo and
/// the tests send. The WhatsApp sandbox, when it is on, knows them too (its list, its ids).
pub async fn whatsapp_templates(deps: &Deps, sandbox: Option<&max_core::adapters::graph::Sandbox>, org: &SeedOrg) -> Result<(), String> {
    use max_core::domain::whatsapp_template::{TemplateStatus, WhatsAppTemplate, variables_of};
    let seeds = [
        ("hello_world", "en_US", json!([{ "type": "BODY", "text": "Hello World" }])),
        ("order_shipped", "es", json!([{ "type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} ha sido enviado.", "example": { "body_text": [["Ana", "#123"]] } }])),
    ];
    for (name, language, components) in seeds {
        let id = match sandbox {
            Some(s) => s.know_template(&org.waba_id, name, language, "UTILITY", "APPROVED", components.clone()),
            // Meta's ids are digits: one of the organisation's own, stable across runs.
            None => u64::from_str_radix(&max_core::domain::ids::sha256_hex(format!("{}#{name}#{language}", org.id).as_bytes())[..12], 16).map_err(|e| e.to_string())?.to_string(),
        };
        let mut template = WhatsAppTemplate::discovered(&org.id, &org.waba_id, &id, name, language, Utc::now());
        let (body, header) = variables_of(&components);
        template.status = TemplateStatus::Approved;
        template.category = Some(max_core::domain::whatsapp_template::TemplateCategory::Utility);
        template.components = components;
        template.body_parameters = body;
        template.header_parameters = header;
        template.version = 1;
        deps.store.save_whatsapp_template(&template, None).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The organisation's voice account for the feedback calls, as its admin would register it with
/// `PUT /v1/channels/voice`: a stand-in Twilio account (the voice sandbox and the tests' Twilio
/// fake accept any) whose auth token signs the sandbox's callbacks.
pub async fn voice_account(deps: &Deps, org: &SeedOrg) -> Result<(), String> {
    let registration: VoiceRegistration = serde_json::from_value(json!({
        "account_sid": format!("AC{}", &max_core::domain::ids::sha256_hex(org.id.as_bytes())[..32]),
        "auth_token": format!("dev-voice-token-{}", org.id),
        "caller_id": format!("+{}", org.display_phone_number),
    }))
    .map_err(|e| e.to_string())?;
    channels::register_voice(&*deps.secrets, &org.id, &registration, Utc::now()).await.map(|_| ()).map_err(|e| e.to_string())
}

/// The default WhatsApp bot menu and texts (the bot answers only where they are stored).
pub async fn bot_menu(deps: &Deps, org: &SeedOrg) -> Result<(), String> {
    max_core::app::bot::seed_defaults(&*deps.store, &org.id, Utc::now()).await.map(|_| ()).map_err(|e| e.to_string())
}

/// A couple of customers writing in, processed as if WhatsApp had sent them.
pub async fn demo_conversations(deps: &Deps, org: &SeedOrg) -> Result<(), String> {
    let now = Utc::now().timestamp();
    let message = |from: &str, name: &str, id: &str, offset: i64, text: &str| {
        json!({
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": org.display_phone_number, "phone_number_id": org.phone_number_id },
                "contacts": [{ "profile": { "name": name }, "wa_id": from }],
                "messages": [{ "from": from, "id": id, "timestamp": (now - offset).to_string(), "type": "text", "text": { "body": text } }]
            }
        })
    };
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": org.waba_id, "changes": [
            message("5215512345678", "Ana Ruiz", "wamid.DEMO0001", 600, "Hola, is my car ready for pickup?"),
            message("5215512345678", "Ana Ruiz", "wamid.DEMO0002", 590, "It's the blue sedan, plate ABC-123"),
            message("16505551234", "Sheena Nelson", "wamid.DEMO0003", 300, "Can I move my service appointment to Friday?"),
        ]}]
    });
    let changes = read_changes(body.to_string().as_bytes()).map_err(|e| format!("{e:?}"))?;
    let ports = deps.inbound_ports();
    process_job(&ports, &InboundJob::Changes { received_at: Utc::now(), changes }).await.map_err(|e| e.to_string())?;
    Ok(())
}
