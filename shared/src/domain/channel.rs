//! A WhatsApp business phone number registered to an organisation: how a webhook finds its tenant.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub org_id: String,
    pub phone_number_id: String,
    #[serde(default)]
    pub display_phone_number: Option<String>,
    /// The WhatsApp Business Account that owns the number; template status updates name only this.
    #[serde(default)]
    pub waba_id: Option<String>,
    /// Sent instead of a free-form message once the 24-hour customer-service window has closed.
    #[serde(default)]
    pub fallback_template: Option<TemplateRef>,
}

/// An approved WhatsApp message template, by name and language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub name: String,
    pub language: String,
}

/// A WhatsApp message template's review state, kept current by `message_template_status_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatsAppTemplateStatus {
    pub org_id: String,
    pub template_id: String,
    pub name: String,
    pub language: Option<String>,
    pub category: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}
