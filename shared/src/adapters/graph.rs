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
use crate::domain::media::{MAX_MEDIA_BYTES, MediaLocation};
use crate::ports::{ChunkSource, DownloadStart, MediaLookup, SendOutcome, SubmittedTemplate, TemplateListPage, WhatsApp, WhatsAppMedia, WhatsAppTemplates};

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

    fn media(&self) -> Option<&dyn WhatsAppMedia> {
        Some(self)
    }
}

#[async_trait]
impl WhatsAppMedia for GraphApi {
    async fn media_location(&self, media_id: &str, access_token: &Secret) -> MediaLookup {
        let url = format!("{}/{}", self.base_url, percent_encoding::utf8_percent_encode(media_id, percent_encoding::NON_ALPHANUMERIC));
        let response = match self.http.get(&url).bearer_auth(access_token.expose()).send().await {
            Ok(r) => r,
            Err(e) => return MediaLookup::Failed { detail: transport_error(&e) },
        };
        let status = response.status().as_u16();
        let json = response.json::<Value>().await.unwrap_or(Value::Null);
        let code = json.pointer("/error/code").and_then(Value::as_i64);
        let said = json.pointer("/error/message").and_then(Value::as_str).map_or_else(|| format!("HTTP {status}"), str::to_string);
        // Meta answers an id it does not know (expired, or never valid) with 400/404 and code 100.
        if status == 404 || (status == 400 && code == Some(100)) {
            return MediaLookup::Gone { detail: said };
        }
        if !(200..300).contains(&status) {
            return MediaLookup::Failed { detail: said };
        }
        let Some(url) = json.get("url").and_then(Value::as_str) else {
            return MediaLookup::Failed { detail: format!("HTTP {status} without a url") };
        };
        MediaLookup::Found(MediaLocation {
            url: url.to_string(),
            mime_type: json.get("mime_type").and_then(Value::as_str).map(str::to_string),
            sha256: json.get("sha256").and_then(Value::as_str).map(str::to_string),
            file_size: json.get("file_size").and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))),
        })
    }

    async fn download(&self, url: &str, access_token: &Secret) -> DownloadStart {
        // The media URL is Meta's: it needs the same bearer token, and answers bytes.
        let response = match self.http.get(url).bearer_auth(access_token.expose()).send().await {
            Ok(r) => r,
            Err(e) => return DownloadStart::Failed { detail: transport_error(&e) },
        };
        let status = response.status().as_u16();
        if matches!(status, 401 | 403 | 404 | 410) {
            return DownloadStart::Expired { http_status: status };
        }
        if !(200..300).contains(&status) {
            return DownloadStart::Failed { detail: format!("download answered HTTP {status}") };
        }
        DownloadStart::Body(Box::new(GraphDownload { response, read: 0 }))
    }
}

/// A download read as it arrives (reqwest's `chunk`): never held whole.
struct GraphDownload {
    response: reqwest::Response,
    read: u64,
}

#[async_trait]
impl ChunkSource for GraphDownload {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let chunk = self.response.chunk().await.map_err(|e| Error::backend("graph", format!("download cut: {}", transport_error(&e))))?;
        if let Some(c) = &chunk {
            self.read += c.len() as u64;
            if self.read > MAX_MEDIA_BYTES {
                return Err(Error::backend("graph", "download larger than any WhatsApp media"));
            }
        }
        Ok(chunk.map(|c| c.to_vec()))
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
    media: Mutex<SandboxMedia>,
}

/// The files the sandbox serves, by media id, and how many of their next downloads answer as an
/// expired URL (to show a retry with a fresh one).
#[derive(Debug, Default)]
struct SandboxMedia {
    files: std::collections::HashMap<String, (String, Vec<u8>)>,
    expire_next: std::collections::HashMap<String, u32>,
}

/// Where the sandbox's media URLs point (served by the sandbox itself, like Meta's lookaside host).
const SANDBOX_MEDIA_URL: &str = "https://sandbox.whatsapp.invalid/media/";

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

    /// Serves `bytes` as the file of `media_id` (a webhook body's media, `GET /{media-id}`).
    pub fn know_media(&self, media_id: &str, mime_type: &str, bytes: Vec<u8>) {
        self.lock_media().files.insert(media_id.to_string(), (mime_type.to_string(), bytes));
    }

    /// The next `times` downloads of `media_id` answer 404, as an expired Meta URL does.
    pub fn expire_media_urls(&self, media_id: &str, times: u32) {
        self.lock_media().expire_next.insert(media_id.to_string(), times);
    }

    /// Serves a small file for each media id `body` (a webhook) names that it does not serve yet,
    /// of the type the webhook says: the dev stack's stand-in for what the customer sent.
    pub fn serve_webhook_media(&self, body: &[u8]) {
        let Ok(changes) = crate::domain::webhook::read_changes(body) else { return };
        for change in changes {
            let messages = change.value.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
            for m in messages {
                let kind = m.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                let Some(r) = crate::domain::media::media_reference(&kind, m.get(&kind)) else { continue };
                if self.lock_media().files.contains_key(&r.channel_media_id) {
                    continue;
                }
                let mime = r.mime_type.clone().unwrap_or_else(|| "application/octet-stream".into());
                let line = format!("MAX sandbox {kind} {} ({mime})\n", r.channel_media_id);
                let bytes = line.as_bytes().iter().copied().cycle().take(64 * 1024).collect();
                self.know_media(&r.channel_media_id, &mime, bytes);
            }
        }
    }

    fn lock_media(&self) -> std::sync::MutexGuard<'_, SandboxMedia> {
        self.media.lock().unwrap_or_else(|p| p.into_inner())
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

    fn media(&self) -> Option<&dyn WhatsAppMedia> {
        Some(self)
    }
}

#[async_trait]
impl WhatsAppMedia for Sandbox {
    async fn media_location(&self, media_id: &str, _access_token: &Secret) -> MediaLookup {
        let media = self.lock_media();
        let Some((mime, bytes)) = media.files.get(media_id) else {
            return MediaLookup::Gone { detail: "(#100) Param media_id is not a valid media ID".into() };
        };
        // The hash of the bytes served (a fixture's sha256 is made up), as the README asks.
        let mut fp = crate::domain::media::Fingerprint::default();
        fp.update(bytes);
        let size = fp.size;
        MediaLookup::Found(MediaLocation {
            url: format!("{SANDBOX_MEDIA_URL}{media_id}"),
            mime_type: Some(mime.clone()),
            sha256: Some(fp.sha256()),
            file_size: Some(size),
        })
    }

    async fn download(&self, url: &str, _access_token: &Secret) -> DownloadStart {
        let Some(id) = url.strip_prefix(SANDBOX_MEDIA_URL) else {
            return DownloadStart::Failed { detail: "not a sandbox media URL".into() };
        };
        let mut media = self.lock_media();
        if let Some(left) = media.expire_next.get_mut(id).filter(|n| **n > 0) {
            *left -= 1;
            return DownloadStart::Expired { http_status: 404 };
        }
        match media.files.get(id) {
            Some((_, bytes)) => DownloadStart::Body(Box::new(SandboxDownload { chunks: bytes.chunks(64 * 1024).map(<[u8]>::to_vec).collect::<Vec<_>>().into_iter() })),
            None => DownloadStart::Expired { http_status: 404 },
        }
    }
}

struct SandboxDownload {
    chunks: std::vec::IntoIter<Vec<u8>>,
}

#[async_trait]
impl ChunkSource for SandboxDownload {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self.chunks.next())
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

    fn graph_fixture(name: &str) -> Value {
        let path = format!("{}/../../shared/fixtures/graph/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    async fn read_all(start: DownloadStart) -> Vec<u8> {
        let DownloadStart::Body(mut body) = start else { panic!("a body was expected") };
        let mut all = Vec::new();
        while let Some(chunk) = body.next_chunk().await.unwrap() {
            all.extend(chunk);
        }
        all
    }

    #[tokio::test]
    async fn a_media_id_gives_metas_url_and_what_the_bytes_must_be_with_the_numbers_token() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v23.0/1003383421387256"))
            .and(header("authorization", "Bearer EAAG-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(graph_fixture("media-url.json")))
            .expect(1)
            .mount(&server)
            .await;
        let MediaLookup::Found(l) = graph(&server).media_location("1003383421387256", &token()).await else { panic!("found expected") };
        assert!(l.url.starts_with("https://lookaside.fbsbx.com/"));
        assert_eq!((l.mime_type.as_deref(), l.file_size), (Some("image/jpeg"), Some(303833)));
        assert_eq!(l.sha256.as_deref(), Some("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="));
    }

    #[tokio::test]
    async fn a_media_id_meta_forgot_is_gone_and_its_outage_is_worth_a_retry() {
        let server = MockServer::start().await;
        Mock::given(method("GET")).and(path("/v23.0/404404")).respond_with(ResponseTemplate::new(400).set_body_json(graph_fixture("media-not-found.json"))).mount(&server).await;
        Mock::given(method("GET")).and(path("/v23.0/500500")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
        let gone = graph(&server).media_location("404404", &token()).await;
        assert!(matches!(gone, MediaLookup::Gone { ref detail } if detail.contains("not a valid media ID")), "{gone:?}");
        assert!(matches!(graph(&server).media_location("500500", &token()).await, MediaLookup::Failed { .. }));
    }

    #[tokio::test]
    async fn a_download_streams_the_bytes_with_the_token_and_an_expired_url_says_so() {
        let server = MockServer::start().await;
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 256) as u8).collect();
        Mock::given(method("GET"))
            .and(path("/media/fresh"))
            .and(header("authorization", "Bearer EAAG-token"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET")).and(path("/media/old")).respond_with(ResponseTemplate::new(401)).mount(&server).await;
        let api = graph(&server);
        assert_eq!(read_all(api.download(&format!("{}/media/fresh", server.uri()), &token()).await).await, bytes);
        assert!(matches!(api.download(&format!("{}/media/old", server.uri()), &token()).await, DownloadStart::Expired { http_status: 401 }));
    }
}
