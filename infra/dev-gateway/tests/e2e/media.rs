//! Inbound media end to end (`docs/media.md`): Meta's image, document, audio and video fixture
//! webhooks signed through the dev gateway, inbound-processor and media-worker polled in process,
//! DynamoDB and S3 in moto, the WhatsApp sandbox serving the files. Each file ends stored and a
//! presigned URL minted for its organisation downloads the same bytes from S3; another
//! organisation gets 404; an expired URL is asked for again; a media id Meta does not know ends
//! `unavailable`; cleanup deletes only what passed the retention.

use chrono::{Duration, Utc};
use max_core::app::media::{clean_up, media_url};
use max_core::domain::media::{MediaFile, MediaStatus};
use max_core::error::Error;
use max_core::ports::MediaStore;
use max_dev::testing::{TestStack, WAIT, eventually, fixture};
use serde_json::Value;

/// The fixture's first message and its media id, the message stamped now.
fn media_fixture(path: &str) -> (Vec<u8>, String) {
    let body = super::fresh(&fixture(path));
    let v: Value = serde_json::from_slice(&body).expect("fixture JSON");
    let m = &v["entry"][0]["changes"][0]["value"]["messages"][0];
    let kind = m["type"].as_str().expect("type");
    (body.clone(), m[kind]["id"].as_str().expect("media id").to_string())
}

fn file_bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// The media record of the message that carries `media_id`, once the worker is done with it.
async fn settled(t: &TestStack, media_id: &str) -> MediaFile {
    let org = t.org.seed.id.clone();
    eventually(&format!("media {media_id} settled"), WAIT, || {
        let org = org.clone();
        async move {
            for c in t.conversations().await {
                for m in t.messages(c["id"].as_str()?).await {
                    if m["content"]["id"] == media_id {
                        let file = t.stack.dynamo.media_file(&org, m["id"].as_str()?).await.ok()??;
                        return (file.status != MediaStatus::Pending).then_some(file);
                    }
                }
            }
            None
        }
    })
    .await
}

#[tokio::test]
async fn the_four_fixture_files_are_stored_and_their_presigned_urls_serve_the_same_bytes_to_their_organisation_only() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox.clone().expect("the WhatsApp sandbox");
    let cases = [
        ("meta-openapi/image-message.json", "image/jpeg", 1usize, 303_833usize),
        ("media/document.json", "application/pdf", 2, 9 * 1024 * 1024 + 17),
        ("media/audio-voice-note.json", "audio/ogg", 3, 40_000),
        ("media/video.json", "video/mp4", 4, 700_000),
    ];
    let mut expected = Vec::new();
    for (path, mime, seed, len) in cases {
        let (body, media_id) = media_fixture(path);
        let bytes = file_bytes(seed as u8, len);
        sandbox.know_media(&media_id, mime, bytes.clone());
        // The first download of the video's URL answers as an expired one: asked for again.
        if path.contains("video") {
            sandbox.expire_media_urls(&media_id, 1);
        }
        assert_eq!(t.post_webhook(&body).await.status(), 200);
        expected.push((media_id, mime, bytes));
    }
    for (media_id, mime, bytes) in expected {
        let file = settled(&t, &media_id).await;
        assert_eq!(file.status, MediaStatus::Stored, "{media_id}: {:?}", file.reason);
        assert_eq!(file.size, Some(bytes.len() as u64));
        let key = file.storage_key.clone().expect("a key");
        assert!(key.starts_with(&format!("media/{}/{}/{}/", t.org.seed.id, file.conversation_id, file.message_id)), "{key}");
        let url = media_url(&t.stack.dynamo, &*t.stack.deps.blobs, &t.org.seed.id, &file.id).await.unwrap().expect("a URL");
        let got = t.http.get(&url).send().await.expect("presigned GET");
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], mime);
        assert!(got.bytes().await.unwrap().as_ref() == bytes.as_slice(), "{media_id}: the same bytes");
        // Another organisation: no such file, no URL.
        assert!(matches!(media_url(&t.stack.dynamo, &*t.stack.deps.blobs, &t.other.seed.id, &file.id).await, Err(Error::NotFound(_))));
        // Through the API: the message shows it stored with a URL; /v1/media/{id} redirects to
        // the same bytes (reqwest follows the 302); another organisation's agent gets 404.
        let shown = t.messages(&file.conversation_id).await.into_iter().find(|m| m["id"] == file.message_id.as_str()).expect("the message");
        assert_eq!(shown["media"]["status"], "stored");
        let listed = t.http.get(shown["media"]["url"].as_str().expect("a URL on the message")).send().await.unwrap();
        assert!(listed.bytes().await.unwrap().as_ref() == bytes.as_slice());
        let via_api = t.http.get(t.url(&format!("/v1/media/{}", file.id))).bearer_auth(&t.org.agent).send().await.unwrap();
        assert_eq!(via_api.status(), 200);
        assert!(via_api.bytes().await.unwrap().as_ref() == bytes.as_slice());
        let theirs = t.http.get(t.url(&format!("/v1/media/{}", file.id))).bearer_auth(&t.other.agent).send().await.unwrap();
        assert_eq!(theirs.status(), 404);
    }
}

#[tokio::test]
async fn a_media_id_meta_does_not_know_ends_unavailable_and_cleanup_takes_only_what_passed_retention() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox.clone().expect("the WhatsApp sandbox");
    // The sticker's id is unknown to Meta (the sandbox was never given its file).
    let (sticker, sticker_id) = media_fixture("media/sticker.json");
    assert_eq!(t.post_webhook(&sticker).await.status(), 200);
    let gone = settled(&t, &sticker_id).await;
    assert_eq!(gone.status, MediaStatus::Unavailable);
    assert!(gone.reason.as_deref().unwrap_or_default().contains("not a valid media ID"), "{:?}", gone.reason);

    // A stored document, kept 7 days by its organisation's setting.
    t.stack.dynamo.put_media_retention(&t.org.seed.id, 7, None).await.unwrap();
    let (doc, doc_id) = media_fixture("media/document.json");
    sandbox.know_media(&doc_id, "application/pdf", file_bytes(9, 1000));
    assert_eq!(t.post_webhook(&doc).await.status(), 200);
    let stored = settled(&t, &doc_id).await;
    assert_eq!(stored.status, MediaStatus::Stored);
    let key = stored.storage_key.clone().unwrap();
    let ends = stored.delete_after.expect("an end");
    assert!(ends > Utc::now() + Duration::days(6) && ends < Utc::now() + Duration::days(8));

    // Cleanup before the end keeps it; after the end deletes object and record.
    let blobs = &*t.stack.deps.blobs;
    assert_eq!(clean_up(&t.stack.dynamo, blobs, ends - Duration::minutes(1)).await.unwrap(), 0);
    assert!(blobs.get(&key).await.is_ok());
    assert_eq!(clean_up(&t.stack.dynamo, blobs, ends + Duration::hours(1)).await.unwrap(), 1);
    assert!(blobs.get(&key).await.is_err(), "the object is gone");
    assert!(t.stack.dynamo.media_file(&t.org.seed.id, &stored.id).await.unwrap().is_none());
    // The unavailable sticker held no object and is not in the expiry index: still there.
    assert!(t.stack.dynamo.media_file(&t.org.seed.id, &gone.id).await.unwrap().is_some());
}

#[tokio::test]
async fn in_make_dev_the_sandbox_serves_the_files_of_the_webhooks_it_is_sent() {
    let t = TestStack::with(max_dev::testing::TestOptions { sandbox_media: true, ..Default::default() }).await;
    let (body, media_id) = media_fixture("media/document.json");
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    let file = settled(&t, &media_id).await;
    assert_eq!(file.status, MediaStatus::Stored, "{:?}", file.reason);
    let key = file.storage_key.expect("a key");
    assert!(key.ends_with("/invoice-2291.pdf"), "{key}");
    let bytes = t.stack.deps.blobs.get(&key).await.unwrap();
    assert!(String::from_utf8_lossy(&bytes).starts_with(&format!("MAX sandbox document {media_id}")));
}

/// An agent's upload end to end: `POST /v1/media`, the bytes PUT to the presigned URL (S3 in
/// moto), a reply naming it; the sandbox Meta receives an image by link, and the link downloads
/// the same bytes. Before the PUT the reply is 409; another organisation's agent gets 404.
#[tokio::test]
async fn an_agents_upload_is_put_to_its_presigned_url_and_sent_to_meta_by_a_link_to_the_same_bytes() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox.clone().expect("the WhatsApp sandbox");
    let conversation = t.live_conversation().await;
    let bytes = file_bytes(7, 120_000);

    // WHEN an agent starts an upload THEN a presigned PUT bound to the type and the size
    let (status, upload) = t
        .post("/v1/media", &t.org.agent, serde_json::json!({"type": "image", "mime_type": "image/jpeg", "size": bytes.len(), "filename": "part.jpg"}))
        .await;
    assert_eq!(status, 201, "{upload}");
    let id = upload["id"].as_str().expect("an id").to_string();
    assert_eq!((upload["status"].as_str(), upload["upload"]["method"].as_str()), (Some("awaiting_upload"), Some("PUT")));
    let reply = serde_json::json!({"type": "media", "media_type": "image", "media_id": id, "caption": "The part we fitted"});
    let path = format!("/v1/conversations/{conversation}/messages");

    // WHEN the agent replies before the bytes are there THEN 409 naming the field, nothing sent
    let (status, problem) = t.post(&path, &t.org.agent, reply.clone()).await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap_or_default().starts_with("content.media_id"), "{problem}");

    // WHEN the dashboard PUTs the bytes with the headers it was given
    let mut put = t.http.put(upload["upload"]["url"].as_str().unwrap());
    for (name, value) in upload["upload"]["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let put = put.body(bytes.clone()).send().await.expect("presigned PUT");
    assert!(put.status().is_success(), "{}", put.status());

    // THEN another organisation cannot use it, nor see it (404); ours sends it (202)
    let content: max_core::domain::outbound::OutboundContent = serde_json::from_value(reply.clone()).unwrap();
    let theirs = max_core::app::media::use_upload(&t.stack.dynamo, &*t.stack.deps.blobs, &t.other.seed.id, content, Utc::now()).await;
    assert!(matches!(theirs, Err(Error::NotFound("media"))), "{theirs:?}");
    let (status, _) = t.get(&format!("/v1/media/{id}"), &t.other.agent).await;
    assert_eq!(status, 404);
    let (status, message) = t.post(&path, &t.org.agent, reply).await;
    assert_eq!(status, 202, "{message}");
    assert_eq!(message["media"]["id"], id.as_str());

    // AND Meta (the sandbox) receives an image by link, and the link serves the same bytes
    let sent = eventually("the image is sent", WAIT, || async { sandbox.outbox().into_iter().find(|m| m.request["type"] == "image") }).await;
    assert_eq!(sent.request["image"]["caption"], "The part we fitted");
    let link = sent.request["image"]["link"].as_str().expect("sent by link");
    let got = t.http.get(link).send().await.expect("Meta's fetch");
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    assert!(got.bytes().await.unwrap().as_ref() == bytes.as_slice(), "the same bytes");
    // AND the conversation shows the message with its file stored and a URL minted on read
    let shown = t.messages(&conversation).await.into_iter().find(|m| m["id"] == message["id"]).expect("the reply");
    assert_eq!((shown["media"]["status"].as_str(), shown["media"]["size"].as_u64()), (Some("stored"), Some(bytes.len() as u64)));
    let file = t.stack.dynamo.media_file(&t.org.seed.id, &id).await.unwrap().expect("the record");
    assert_eq!(file.status, MediaStatus::Stored);
    assert!(t.stack.dynamo.media_file(&t.other.seed.id, &id).await.unwrap().is_none());
}
