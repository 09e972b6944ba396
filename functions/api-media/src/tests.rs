//! This function's `events/` samples through its handler, and its routes on the memory adapter:
//! an upload answers a presigned PUT for the organisation's key within WhatsApp's limits (413 and
//! 422 naming the field otherwise) and is not shown before a reply uses it; a stored file redirects to a presigned URL for its organisation only, a pending or unavailable
//! one answers 409, the retention is read with its default and set by admins within its range.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request};
use max_core::adapters::memory::MemoryBlobs;
use max_core::config::Deps;
use max_core::domain::media::{MediaFile, media_reference};
use max_core::testing::{SampleRequest, http_samples, statuses};

fn request(method: &str, path: &str, org: &str, group: &str, body: Option<&str>) -> Request {
    let r = SampleRequest::new("api-media", "get-media-retention.json", method, path).group(group).claim("custom:org_id", org);
    match body {
        Some(b) => r.body(b).build(),
        None => r.build(),
    }
}

async fn call(deps: &Deps, req: Request) -> (StatusCode, lambda_http::http::HeaderMap, String) {
    let res = crate::handle(req, deps).await.unwrap();
    let body = match res.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).to_string(),
        _ => String::new(),
    };
    (res.status(), res.headers().clone(), body)
}

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-media", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("create-upload-too-large.json", 413),
            ("create-upload-unsupported-type.json", 422),
            ("create-upload.json", 201),
            ("get-media-retention.json", 200),
            ("get-unknown-media.json", 404),
            ("put-media-retention-as-agent.json", 403),
            ("put-media-retention.json", 200),
        ])
    );
}

#[tokio::test]
async fn a_stored_file_redirects_to_a_fresh_url_for_its_organisation_only_and_a_pending_one_is_a_conflict() {
    let now = chrono::Utc::now();
    let (deps, _world) = Deps::in_memory(now);
    let r = media_reference("image", Some(&serde_json::json!({"id": "77", "mime_type": "image/png"}))).unwrap();
    let mut stored = MediaFile::pending("org-1", "c1", "m1", "n1", &r, now);
    stored.stored(stored.storage_key(None), None, 3, "h".into(), now, 90);
    deps.store.save_media_file(&stored).await.unwrap();
    deps.store.save_media_file(&MediaFile::pending("org-1", "c1", "m2", "n1", &r, now)).await.unwrap();

    let (status, headers, _) = call(&deps, request("GET", "/v1/media/m1", "org-1", "agent", None)).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = headers["location"].to_str().unwrap();
    assert_eq!(MemoryBlobs::presigned_key(location), Some("media/org-1/c1/m1/77.png"));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(call(&deps, request("GET", "/v1/media/m1", "org-2", "admin", None)).await.0, StatusCode::NOT_FOUND);
    let (status, _, body) = call(&deps, request("GET", "/v1/media/m2", "org-1", "agent", None)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn the_retention_defaults_to_ninety_days_and_admins_set_it_within_range() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let get = || request("GET", "/v1/settings/media-retention", "org-1", "agent", None);
    assert_eq!(call(&deps, get()).await.2, r#"{"days":90}"#);
    let put = |days: &str| request("PUT", "/v1/settings/media-retention", "org-1", "admin", Some(days));
    assert_eq!(call(&deps, put(r#"{"days":0}"#)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(call(&deps, put(r#"{"days":366}"#)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(call(&deps, put(r#"{"days":7}"#)).await.0, StatusCode::OK);
    assert_eq!(call(&deps, get()).await.2, r#"{"days":7}"#);
    assert_eq!(deps.store.media_retention("org-2").await.unwrap(), None, "another organisation keeps its default");
}

#[tokio::test]
async fn an_upload_answers_a_put_for_its_key_and_its_limits_name_the_field() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let post = |org: &str, body: &str| request("POST", "/v1/media", org, "agent", Some(body));
    let (status, _, body) = call(&deps, post("org-1", r#"{"type":"document","mime_type":"application/pdf","size":1200,"filename":"quote.pdf"}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = answer["id"].as_str().unwrap();
    assert_eq!(answer["status"], "awaiting_upload");
    assert_eq!(answer["upload"]["method"], "PUT");
    assert_eq!(answer["upload"]["headers"]["content-type"], "application/pdf");
    assert_eq!(answer["upload"]["headers"]["content-length"], "1200");
    let url = answer["upload"]["url"].as_str().unwrap();
    assert_eq!(MemoryBlobs::presigned_key(url), Some(format!("media/org-1/outbound/{id}/quote.pdf").as_str()));
    // Not a file anyone can fetch yet: 409 for its organisation, 404 for another.
    let (status, _, body) = call(&deps, request("GET", &format!("/v1/media/{id}"), "org-1", "agent", None)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("awaiting_upload"), "{body}");
    assert_eq!(call(&deps, request("GET", &format!("/v1/media/{id}"), "org-2", "agent", None)).await.0, StatusCode::NOT_FOUND);

    let (status, _, body) = call(&deps, post("org-1", r#"{"type":"sticker","mime_type":"image/webp","size":102401}"#)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains(r#""field":"size""#), "{body}");
    assert_eq!(call(&deps, post("org-1", r#"{"type":"sticker","mime_type":"image/webp","size":102401,"animated":true}"#)).await.0, StatusCode::CREATED);
    let (status, _, body) = call(&deps, post("org-1", r#"{"type":"image","mime_type":"image/gif","size":10}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains(r#""field":"mime_type""#), "{body}");
    assert_eq!(call(&deps, post("org-1", r#"{"type":"gif","mime_type":"image/gif","size":10}"#)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
}
