//! The WhatsApp Cloud API (Graph API) over reqwest, and the dev-mode sandbox that stands in for it.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::secret::Secret;
use crate::domain::whatsapp_template::ListedTemplate;
use crate::error::{Error, Result};
use crate::ports::{SendOutcome, SubmittedTemplate, TemplateListPage, WhatsApp, WhatsAppTemplates};

/// The Graph API client. It holds no token: each send carries its number's own (`ports::WhatsApp`).
#[derive(Debug, Clone)]
pub struct GraphApi {
    http: reqwest::Client,
    base_url: String,
}

impl GraphApi {
    /// `base_url` like `https://graph.facebook.com/v23.0`. Builds the HTTP client once (cold start).
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let http = super::peer_http_client("Graph API", timeout);
        GraphApi { http, base_url: base_url.trim_end_matches('/').to_string() }
    }
}

#[async_trait]
impl WhatsApp for GraphApi {
    async fn send(&self, phone_number_id: &str, access_token: &Secret, body: &Value) -> SendOutcome {
        let url = format!("{}/{}/messages", self.base_url, phone_number_id);
        let response = match self.http.post(&url).bearer_auth(access_token.expose()).json(body).send().await {
            Ok(r) => r,
            // Never connected: Meta cannot have it.
            Err(e) if e.is_connect() => {
                return SendOutcome::Refused { http_status: None, code: None, title: transport_error(&e), detail: None };
            }
            Err(e) => return SendOutcome::Unanswered { reason: transport_error(&e) },
        };
        let status = response.status().as_u16();
        let json = response.json::<Value>().await;
        if (200..300).contains(&status) {
            return match json.as_ref().ok().and_then(|j| j.pointer("/messages/0/id")).and_then(Value::as_str) {
                Some(wamid) => SendOutcome::Accepted { wamid: wamid.to_string() },
                // Accepted, but its id was lost on the way: only a status callback can tell it now.
                None => SendOutcome::Unanswered { reason: format!("HTTP {status} without a message id") },
            };
        }
        let json = json.unwrap_or(Value::Null);
        let error = json.get("error").cloned().unwrap_or(Value::Null);
        SendOutcome::Refused {
            http_status: Some(status),
            code: error.get("code").and_then(Value::as_i64),
            title: error
                .get("error_user_title")
                .or_else(|| error.get("message"))
                .and_then(Value::as_str)
                .map_or_else(|| format!("HTTP {status}"), str::to_string),
            detail: error.pointer("/error_data/details").and_then(Value::as_str).map(str::to_string),
        }
    }

    fn templates(&self) -> Option<&dyn WhatsAppTemplates> {
        Some(self)
    }
}

/// Meta's answer to a template request: its JSON on a 2xx; a 4xx is Meta refusing the request
/// (422 naming `template`, in Meta's words); anything else is a backend failure.
async fn graph_answer(sent: std::result::Result<reqwest::Response, reqwest::Error>) -> Result<Value> {
    let response = sent.map_err(|e| Error::backend("graph", transport_error(&e)))?;
    let status = response.status().as_u16();
    let json = response.json::<Value>().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(json);
    }
    let error = json.get("error").cloned().unwrap_or(Value::Null);
    let said = error
        .get("error_user_msg")
        .or_else(|| error.get("message"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("HTTP {status}"), str::to_string);
    if (400..500).contains(&status) && status != 401 && status != 429 {
        return Err(Error::invalid("template", format!("Meta refused it: {said}")));
    }
    Err(Error::backend("graph", format!("HTTP {status}: {said}")))
}

/// The fields a sync reads of each template.
const LISTED_FIELDS: &str = "id,name,language,status,category,components,quality_score,rejected_reason,parameter_format";

fn listed(item: &Value) -> Option<ListedTemplate> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string())));
    Some(ListedTemplate {
        id: text("id")?,
        name: text("name")?,
        language: text("language").unwrap_or_default(),
        status: text("status").unwrap_or_default(),
        category: text("category"),
        components: item.get("components").cloned().unwrap_or(Value::Array(Vec::new())),
        quality: item.pointer("/quality_score/score").and_then(Value::as_str).map(str::to_string),
        rejected_reason: text("rejected_reason"),
        parameter_format: text("parameter_format"),
    })
}

#[async_trait]
impl WhatsAppTemplates for GraphApi {
    async fn submit_template(&self, waba_id: &str, access_token: &Secret, body: &Value) -> Result<SubmittedTemplate> {
        let url = format!("{}/{}/message_templates", self.base_url, waba_id);
        let json = graph_answer(self.http.post(&url).bearer_auth(access_token.expose()).json(body).send().await).await?;
        let id = json.get("id").and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string())));
        let id = id.ok_or_else(|| Error::backend("graph", "template created without an id"))?;
        let status = json.get("status").and_then(Value::as_str).unwrap_or("PENDING").to_string();
        Ok(SubmittedTemplate { id, status })
    }

    async fn list_templates(&self, waba_id: &str, access_token: &Secret, after: Option<&str>) -> Result<TemplateListPage> {
        let url = format!("{}/{}/message_templates", self.base_url, waba_id);
        let mut query = vec![("fields", LISTED_FIELDS.to_string()), ("limit", "100".to_string())];
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        let json = graph_answer(self.http.get(&url).bearer_auth(access_token.expose()).query(&query).send().await).await?;
        let templates = json.get("data").and_then(Value::as_array).into_iter().flatten().filter_map(listed).collect();
        // Meta gives `paging.next` only when there is a next page.
        let after = json.pointer("/paging/next").and(json.pointer("/paging/cursors/after")).and_then(Value::as_str).map(str::to_string);
        Ok(TemplateListPage { templates, after })
    }

    async fn delete_template(&self, waba_id: &str, access_token: &Secret, name: &str, template_id: &str) -> Result<()> {
        let url = format!("{}/{}/message_templates", self.base_url, waba_id);
        let sent = self.http.delete(&url).bearer_auth(access_token.expose()).query(&[("hsm_id", template_id), ("name", name)]).send().await;
        match sent {
            // Meta no longer has it: what deleting wanted.
            Ok(r) if r.status().as_u16() == 404 => Ok(()),
            other => graph_answer(other).await.map(|_| ()),
        }
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "transport error".to_string()
    }
}

/// One send the sandbox accepted: what Meta would have received.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub at: DateTime<Utc>,
    pub phone_number_id: String,
    pub wamid: String,
    pub request: Value,
}

/// A template the sandbox was given (submitted, or known from the start), with its status as
/// the dev stack last played it (`POST /dev/whatsapp/templates/{name}`).
#[derive(Debug, Clone, Serialize)]
pub struct SandboxTemplate {
    pub id: String,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub components: Value,
}

/// Dev mode's WhatsApp: accepts every send and every template submission, answers like Meta, and
/// keeps what it was sent.
#[derive(Debug, Default)]
pub struct Sandbox {
    sent: Mutex<Vec<OutboxEntry>>,
    templates: Mutex<Vec<SandboxTemplate>>,
}

/// Sandbox template ids: digits, like Meta's, distinct within the process.
static NEXT_TEMPLATE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Sandbox {
    /// Newest first.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.iter().rev().cloned().collect()
    }

    fn lock_templates(&self) -> std::sync::MutexGuard<'_, Vec<SandboxTemplate>> {
        self.templates.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a template as Meta's tools would have it (the dev seed), with its id.
    pub fn know_template(&self, waba_id: &str, name: &str, language: &str, category: &str, status: &str, components: Value) -> String {
        let mut templates = self.lock_templates();
        if let Some(t) = templates.iter().find(|t| t.waba_id == waba_id && t.name == name && t.language == language) {
            return t.id.clone();
        }
        let id = (1_100_000_000_000_000 + NEXT_TEMPLATE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)).to_string();
        templates.push(SandboxTemplate {
            id: id.clone(),
            waba_id: waba_id.into(),
            name: name.into(),
            language: language.into(),
            category: category.into(),
            status: status.into(),
            components,
        });
        id
    }

    /// The newest template of that name (and language, when given).
    pub fn template_named(&self, name: &str, language: Option<&str>) -> Option<SandboxTemplate> {
        self.lock_templates().iter().rev().find(|t| t.name == name && language.is_none_or(|l| t.language == l)).cloned()
    }

    /// What the dev stack played for it: its list shows this status from now on.
    pub fn set_template_status(&self, id: &str, status: &str) {
        if let Some(t) = self.lock_templates().iter_mut().find(|t| t.id == id) {
            t.status = status.to_string();
        }
    }
}

#[async_trait]
impl WhatsAppTemplates for Sandbox {
    async fn submit_template(&self, waba_id: &str, _access_token: &Secret, body: &Value) -> Result<SubmittedTemplate> {
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let (name, language) = (text("name"), text("language"));
        if self.lock_templates().iter().any(|t| t.waba_id == waba_id && t.name == name && t.language == language) {
            // As Meta answers a second template of one name and language.
            return Err(Error::invalid("template", format!("Meta refused it: there is already {language} content for this template ({name})")));
        }
        let components = body.get("components").cloned().unwrap_or(Value::Array(Vec::new()));
        let id = self.know_template(waba_id, &name, &language, &text("category"), "PENDING", components);
        Ok(SubmittedTemplate { id, status: "PENDING".into() })
    }

    async fn list_templates(&self, waba_id: &str, _access_token: &Secret, after: Option<&str>) -> Result<TemplateListPage> {
        // One page of everything: the sandbox holds a handful.
        if after.is_some() {
            return Ok(TemplateListPage { templates: Vec::new(), after: None });
        }
        let templates = self
            .lock_templates()
            .iter()
            .filter(|t| t.waba_id == waba_id)
            .map(|t| ListedTemplate {
                id: t.id.clone(),
                name: t.name.clone(),
                language: t.language.clone(),
                status: t.status.clone(),
                category: Some(t.category.clone()),
                components: t.components.clone(),
                quality: None,
                rejected_reason: None,
                parameter_format: None,
            })
            .collect();
        Ok(TemplateListPage { templates, after: None })
    }

    async fn delete_template(&self, waba_id: &str, _access_token: &Secret, _name: &str, template_id: &str) -> Result<()> {
        self.lock_templates().retain(|t| !(t.waba_id == waba_id && t.id == template_id));
        Ok(())
    }
}

#[async_trait]
impl WhatsApp for Sandbox {
    async fn send(&self, phone_number_id: &str, _access_token: &Secret, body: &Value) -> SendOutcome {
        let now = Utc::now();
        let wamid = format!("wamid.sandbox.{}", crate::domain::ids::new_id(now));
        let entry = OutboxEntry { at: now, phone_number_id: phone_number_id.to_string(), wamid: wamid.clone(), request: body.clone() };
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
        SendOutcome::Accepted { wamid }
    }

    fn templates(&self) -> Option<&dyn WhatsAppTemplates> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{body_partial_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn graph(server: &MockServer) -> GraphApi {
        GraphApi::new(&format!("{}/v23.0", server.uri()), Duration::from_secs(5))
    }

    fn token() -> Secret {
        Secret::new("EAAG-token")
    }

    #[tokio::test]
    async fn a_template_is_submitted_to_its_waba_with_the_numbers_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v23.0/102290129340398/message_templates"))
            .and(header("authorization", "Bearer EAAG-token"))
            .and(body_partial_json(json!({ "name": "order_shipped", "category": "UTILITY" })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "594425479261596", "status": "PENDING", "category": "UTILITY" })))
            .expect(1)
            .mount(&server)
            .await;
        let body = json!({ "name": "order_shipped", "language": "es", "category": "UTILITY", "components": [] });
        let submitted = graph(&server).submit_template("102290129340398", &token(), &body).await.unwrap();
        assert_eq!(submitted, SubmittedTemplate { id: "594425479261596".into(), status: "PENDING".into() });
    }

    #[tokio::test]
    async fn meta_refusing_a_template_is_a_422_in_its_words_and_its_outage_is_ours() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v23.0/1/message_templates"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": {
                "message": "Invalid parameter", "type": "OAuthException", "code": 100, "error_subcode": 2388024,
                "error_user_msg": "There is already English content for this template." } })))
            .mount(&server)
            .await;
        Mock::given(method("POST")).and(path("/v23.0/2/message_templates")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
        let g = graph(&server);
        match g.submit_template("1", &token(), &json!({})).await {
            Err(Error::Invalid { field, reason }) => assert_eq!((field.as_str(), reason.contains("already English content")), ("template", true)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(g.submit_template("2", &token(), &json!({})).await, Err(Error::Backend { service: "graph", .. })));
    }

    #[tokio::test]
    async fn the_list_is_read_page_by_page_with_quality_and_reasons() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v23.0/1/message_templates"))
            .and(query_param("limit", "100"))
            .and(query_param("after", "CURSOR1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
                { "id": "22", "name": "promo", "language": "en_US", "status": "REJECTED", "category": "MARKETING", "rejected_reason": "INCORRECT_CATEGORY", "components": [] }
            ], "paging": { "cursors": { "before": "B", "after": "CURSOR2" } } })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v23.0/1/message_templates"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": [
                { "id": "21", "name": "order_shipped", "language": "es", "status": "APPROVED", "category": "UTILITY",
                  "quality_score": { "score": "GREEN", "date": 1749416500 },
                  "components": [{ "type": "BODY", "text": "Hola {{1}}" }] }
            ], "paging": { "cursors": { "before": "A", "after": "CURSOR1" }, "next": "https://graph.facebook.com/next" } })))
            .mount(&server)
            .await;
        let g = graph(&server);
        let first = g.list_templates("1", &token(), None).await.unwrap();
        assert_eq!((first.templates[0].id.as_str(), first.templates[0].quality.as_deref(), first.after.as_deref()), ("21", Some("GREEN"), Some("CURSOR1")));
        let second = g.list_templates("1", &token(), first.after.as_deref()).await.unwrap();
        assert_eq!((second.templates[0].rejected_reason.as_deref(), second.after), (Some("INCORRECT_CATEGORY"), None), "no next: the last page");
    }

    #[tokio::test]
    async fn a_template_is_deleted_by_name_and_id_and_one_meta_lacks_is_gone_already() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .and(path("/v23.0/1/message_templates"))
            .and(query_param("hsm_id", "21"))
            .and(query_param("name", "order_shipped"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "success": true })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE")).and(path("/v23.0/1/message_templates")).and(query_param("hsm_id", "99")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
        let g = graph(&server);
        g.delete_template("1", &token(), "order_shipped", "21").await.unwrap();
        g.delete_template("1", &token(), "gone", "99").await.unwrap();
    }

    #[tokio::test]
    async fn the_sandbox_keeps_submissions_for_the_list_and_refuses_a_second_of_one_name_and_language() {
        let sandbox = Sandbox::default();
        let body = json!({ "name": "order_ready", "language": "en", "category": "UTILITY", "components": [{ "type": "BODY", "text": "Ready" }] });
        let submitted = sandbox.submit_template("1", &token(), &body).await.unwrap();
        assert_eq!(submitted.status, "PENDING");
        assert!(matches!(sandbox.submit_template("1", &token(), &body).await, Err(Error::Invalid { .. })));
        sandbox.set_template_status(&submitted.id, "APPROVED");
        let listed = sandbox.list_templates("1", &token(), None).await.unwrap();
        assert_eq!((listed.templates.len(), listed.templates[0].status.as_str()), (1, "APPROVED"));
        assert!(sandbox.list_templates("2", &token(), None).await.unwrap().templates.is_empty(), "another WABA's");
        sandbox.delete_template("1", &token(), "order_ready", &submitted.id).await.unwrap();
        assert!(sandbox.template_named("order_ready", None).is_none());
    }
}
