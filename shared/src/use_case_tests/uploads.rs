//! Agents' uploads on the memory adapter and the WhatsApp sandbox (`docs/media.md`): WhatsApp's
//! types and size limits, a presigned PUT for the organisation's key, a reply that names the upload
//! only once its bytes are in the bucket as declared, sent to Meta by a link minted at send time
//! (a retry mints another), shown on the message like inbound media; another organisation's upload
//! is not found; an upload no reply used is deleted a day later, a used one after the retention.

use chrono::Duration;

use super::*;
use crate::adapters::memory::MemoryBlobs;
use crate::app::delivery::{MEDIA_GONE, NewReply, SendResult, queue_reply, send_reply};
use crate::app::media::{attach, clean_up, create_upload, use_upload};
use crate::domain::chat_app::{ChatAppMessage, ChatAppUser};
use crate::domain::media::{MediaStatus, NewUpload, PRESIGNED_SEND_SECS, UNUSED_UPLOAD_KEPT, Upload};
use crate::domain::message::{DeliveryStatus, Sender, SenderType};
use crate::domain::outbound::{MediaType, OutboundContent};
use crate::ports::{BlobStore, MediaStore};

fn new_upload(media_type: MediaType, mime_type: &str, size: u64) -> NewUpload {
    NewUpload { media_type, mime_type: mime_type.into(), size, filename: None, animated: None }
}

async fn upload(w: &World, org: &str, wanted: NewUpload) -> crate::Result<Upload> {
    create_upload(w.store(), &*w.mem.blobs, org, "agent-1", &wanted, t(0)).await
}

/// The key an upload's presigned PUT names.
fn put_key(u: &Upload) -> String {
    MemoryBlobs::presigned_key(&u.upload.url).unwrap().to_string()
}

/// The dashboard PUTs `bytes` to the upload's URL with its headers (what S3 would store).
async fn put_bytes(w: &World, u: &Upload, bytes: Vec<u8>) {
    w.mem.blobs.put(&put_key(u), bytes, &u.upload.headers["content-type"]).await.unwrap();
}

fn image(media_id: &str, caption: Option<&str>) -> OutboundContent {
    OutboundContent::Media {
        media_type: MediaType::Image,
        id: None,
        link: None,
        media_id: Some(media_id.into()),
        caption: caption.map(str::to_string),
        filename: None,
    }
}

fn agent() -> Sender {
    Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: Some("Ana".into()) }
}

/// What api-conversations does with a reply: the upload checked, then the reply queued.
async fn reply_with(w: &World, org: &str, conversation_id: &str, content: OutboundContent, at: DateTime<Utc>) -> crate::Result<Message> {
    let content = use_upload(w.store(), &*w.mem.blobs, org, content, at).await?;
    let reply = NewReply { org_id: org, conversation_id, content, sender: agent(), idempotency_key: None, now: at, just_read: None };
    queue_reply(w.store(), w.store(), w.outbox(), reply).await
}

#[test]
fn whatsapps_types_and_limits_decide_what_may_be_uploaded() {
    let field = |u: NewUpload| match u.validate() {
        Err(Error::Invalid { field, .. }) => field,
        Err(Error::TooLarge { field: Some(field), .. }) => format!("413 {field}"),
        other => panic!("{u:?} was accepted: {other:?}"),
    };
    const MIB: u64 = 1024 * 1024;
    assert!(new_upload(MediaType::Image, "image/jpeg", 5 * MIB).validate().is_ok());
    assert_eq!(field(new_upload(MediaType::Image, "image/jpeg", 5 * MIB + 1)), "413 size");
    assert_eq!(field(new_upload(MediaType::Image, "image/gif", 10)), "mime_type");
    assert_eq!(field(new_upload(MediaType::Image, "image/JPEG", 10)), "mime_type");
    assert_eq!(field(new_upload(MediaType::Image, "image/jpeg; q=1", 10)), "mime_type");
    assert_eq!(field(new_upload(MediaType::Image, "image/jpeg", 0)), "size");
    for mime in ["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"] {
        assert!(new_upload(MediaType::Audio, mime, 16 * MIB).validate().is_ok(), "{mime}");
    }
    assert_eq!(field(new_upload(MediaType::Audio, "audio/ogg", 16 * MIB + 1)), "413 size");
    assert_eq!(field(new_upload(MediaType::Audio, "audio/wav", 10)), "mime_type");
    assert!(new_upload(MediaType::Video, "video/3gpp", 16 * MIB).validate().is_ok());
    assert_eq!(field(new_upload(MediaType::Video, "video/quicktime", 10)), "mime_type");
    assert_eq!(field(new_upload(MediaType::Video, "video/mp4", 16 * MIB + 1)), "413 size");
    for mime in ["application/pdf", "text/plain", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"] {
        assert!(new_upload(MediaType::Document, mime, 100 * MIB).validate().is_ok(), "{mime}");
    }
    assert_eq!(field(new_upload(MediaType::Document, "application/zip", 10)), "mime_type");
    assert_eq!(field(new_upload(MediaType::Document, "application/pdf", 100 * MIB + 1)), "413 size");
    // A sticker: 100 KiB static, 500 KiB animated; `animated` means nothing for other types.
    assert!(new_upload(MediaType::Sticker, "image/webp", 100 * 1024).validate().is_ok());
    assert_eq!(field(new_upload(MediaType::Sticker, "image/webp", 100 * 1024 + 1)), "413 size");
    let animated = |size| NewUpload { animated: Some(true), ..new_upload(MediaType::Sticker, "image/webp", size) };
    assert!(animated(500 * 1024).validate().is_ok());
    assert_eq!(field(animated(500 * 1024 + 1)), "413 size");
    assert_eq!(field(NewUpload { animated: Some(false), ..new_upload(MediaType::Image, "image/png", 10) }), "animated");
    assert_eq!(field(new_upload(MediaType::Sticker, "image/png", 10)), "mime_type");
    let named = |name: &str| NewUpload { filename: Some(name.into()), ..new_upload(MediaType::Document, "application/pdf", 10) };
    assert!(named("invoice 1042.pdf").validate().is_ok());
    for bad in ["../etc/passwd", "a\\b.pdf", "line\nbreak.pdf", " "] {
        assert_eq!(field(named(bad)), "filename", "{bad:?}");
    }
}

#[tokio::test]
async fn an_upload_is_recorded_awaiting_its_bytes_with_a_put_signed_for_its_type_and_size() {
    let w = World::new();
    let wanted = NewUpload { filename: Some("Quote 17.pdf".into()), ..new_upload(MediaType::Document, "application/pdf", 2048) };
    let u = upload(&w, ORG, wanted).await.unwrap();
    assert_eq!(u.status, MediaStatus::AwaitingUpload);
    assert_eq!(u.upload.method, "PUT");
    assert_eq!(put_key(&u), format!("media/{ORG}/outbound/{}/Quote_17.pdf", u.id));
    assert_eq!(u.upload.headers["content-type"], "application/pdf");
    assert_eq!(u.upload.headers["content-length"], "2048");
    assert_eq!(u.upload.expires_at, t(15));
    assert_eq!(u.expires_at, t(0) + UNUSED_UPLOAD_KEPT);
    let file = w.store().media_file(ORG, &u.id).await.unwrap().expect("the record");
    assert_eq!((file.status, file.size, file.uploaded_by.as_deref()), (MediaStatus::AwaitingUpload, Some(2048), Some("agent-1")));
    // Refused uploads record nothing.
    assert!(upload(&w, ORG, new_upload(MediaType::Image, "image/png", 6 * 1024 * 1024)).await.is_err());
    assert!(w.mem.blobs.keys("media/").is_empty());
}

#[tokio::test]
async fn a_reply_names_an_upload_only_once_its_bytes_are_there_and_only_in_its_organisation() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let u = upload(&w, ORG, new_upload(MediaType::Image, "image/png", 4)).await.unwrap();

    // WHEN the agent replies before the PUT THEN 409 naming the field, nothing queued
    match reply_with(&w, ORG, &c.id, image(&u.id, None), t(1)).await {
        Err(Error::Conflict { detail, current }) => {
            assert!(detail.starts_with("content.media_id"), "{detail}");
            assert_eq!(current.as_deref(), Some("awaiting_upload"));
        }
        other => panic!("a reply before the upload was accepted: {other:?}"),
    }
    // WHEN the bytes differ from what was declared THEN 409 as well
    put_bytes(&w, &u, b"12345".to_vec()).await;
    assert_conflict(reply_with(&w, ORG, &c.id, image(&u.id, None), t(1)).await, "awaiting_upload");
    assert!(w.reply_jobs().is_empty());
    put_bytes(&w, &u, b"\x89PNG".to_vec()).await;
    // Another organisation, or an id that is no upload, is not found; another type is refused.
    assert_not_found(reply_with(&w, OTHER_ORG, &c.id, image(&u.id, None), t(1)).await, "media");
    assert_not_found(use_upload(w.store(), &*w.mem.blobs, OTHER_ORG, image(&u.id, None), t(1)).await, "media");
    assert_not_found(reply_with(&w, ORG, &c.id, image("no-such-upload", None), t(1)).await, "media");
    let video = OutboundContent::Media { media_type: MediaType::Video, id: None, link: None, media_id: Some(u.id.clone()), caption: None, filename: None };
    match reply_with(&w, ORG, &c.id, video, t(1)).await {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "content.media_type"),
        other => panic!("another type was accepted: {other:?}"),
    }
    assert_eq!(w.store().media_file(ORG, &u.id).await.unwrap().unwrap().status, MediaStatus::AwaitingUpload);

    // WHEN it is uploaded as declared THEN the reply is queued, the upload stored for the retention
    let m = reply_with(&w, ORG, &c.id, image(&u.id, Some("Your part")), t(1)).await.unwrap();
    let file = w.store().media_file(ORG, &u.id).await.unwrap().unwrap();
    assert_eq!((file.status, file.delete_after), (MediaStatus::Stored, Some(t(1) + Duration::days(90))));
    // AND the message shows the file like an inbound one, with a URL minted on read
    let mut shown = vec![w.message(&c.id, &m.id).await];
    attach(w.store(), &*w.mem.blobs, ORG, &mut shown).await.unwrap();
    let media = shown[0].media.clone().expect("the message carries its file");
    assert_eq!((media.id.as_str(), media.status, media.mime_type.as_deref(), media.size), (u.id.as_str(), MediaStatus::Stored, Some("image/png"), Some(4)));
    assert_eq!(MemoryBlobs::presigned_key(media.url.as_deref().unwrap()), Some(put_key(&u).as_str()));
}

#[tokio::test]
async fn the_reply_goes_to_meta_by_a_link_minted_at_send_time() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let u = upload(&w, ORG, new_upload(MediaType::Image, "image/jpeg", 3)).await.unwrap();
    put_bytes(&w, &u, vec![1, 2, 3]).await;
    let m = reply_with(&w, ORG, &c.id, image(&u.id, Some("Here it is")), t(1)).await.unwrap();
    // WHEN reply-sender sends it
    let job = w.reply_jobs().remove(0);
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(2)).await.unwrap(), SendResult::Done);
    // THEN Meta got an image by link: a presigned GET of the upload, an hour long, and the caption
    let sent = w.mem.whatsapp.outbox();
    assert_eq!(sent.len(), 1);
    let request = &sent[0].request;
    assert_eq!(request["type"], "image");
    let link = request["image"]["link"].as_str().expect("a link");
    assert_eq!(MemoryBlobs::presigned_key(link), Some(put_key(&u).as_str()));
    assert!(link.ends_with(&format!("expires_in={PRESIGNED_SEND_SECS}")), "{link}");
    assert_eq!(request["image"]["caption"], "Here it is");
    assert!(request["image"].get("id").is_none());
    // AND the stored message still names the upload, not a link that would expire
    let stored = w.message(&c.id, &m.id).await;
    assert_eq!(stored.status, DeliveryStatus::Sent);
    assert_eq!(stored.outbound.as_ref().and_then(OutboundContent::upload_id), Some(u.id.as_str()));
}

#[tokio::test]
async fn a_reply_whose_file_was_cleaned_up_before_it_was_sent_fails_saying_so() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let u = upload(&w, ORG, new_upload(MediaType::Image, "image/jpeg", 3)).await.unwrap();
    put_bytes(&w, &u, vec![1, 2, 3]).await;
    reply_with(&w, ORG, &c.id, image(&u.id, None), t(1)).await.unwrap();
    w.store().delete_media_file(ORG, &u.id).await.unwrap();
    let job = w.reply_jobs().remove(0);
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(2)).await.unwrap(), SendResult::Done);
    let failed = w.message(&c.id, &job.message_id).await;
    assert_eq!((failed.status, failed.failure.map(|f| f.reason)), (DeliveryStatus::Failed, Some(MEDIA_GONE.to_string())));
    assert!(w.mem.whatsapp.outbox().is_empty());
}

#[tokio::test]
async fn a_chat_app_reply_carries_the_file_with_a_link_in_its_event() {
    let w = World::new();
    let message = ChatAppMessage {
        message_id: "m-1".into(),
        user: ChatAppUser { id: "user-42".into(), name: None, email: None },
        text: "send me the manual".into(),
        sent_at: t(0),
    };
    let job = InboundJob::ChatApp { received_at: t(0), org_id: ORG.into(), message };
    let c = process_job(&w.deps.inbound_ports(), &job).await.unwrap().remove(0).conversation;
    let wanted = NewUpload { filename: Some("manual.pdf".into()), ..new_upload(MediaType::Document, "application/pdf", 3) };
    let u = upload(&w, ORG, wanted).await.unwrap();
    put_bytes(&w, &u, vec![1, 2, 3]).await;
    let document = OutboundContent::Media { media_type: MediaType::Document, id: None, link: None, media_id: Some(u.id.clone()), caption: None, filename: None };
    reply_with(&w, ORG, &c.id, document, t(1)).await.unwrap();
    let job = w.reply_jobs().remove(0);
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(2)).await.unwrap(), SendResult::Done);
    let events = w.events_of(ORG, EventKind::ChatAppMessage).await;
    let media = &events[0].data["media"];
    assert_eq!((media["type"].as_str(), media["mime_type"].as_str(), media["filename"].as_str()), (Some("document"), Some("application/pdf"), Some("manual.pdf")));
    assert_eq!(MemoryBlobs::presigned_key(media["url"].as_str().unwrap()), Some(put_key(&u).as_str()));
    // The document's name is the upload's when the reply gives none.
    assert_eq!(events[0].data["content"]["filename"], "manual.pdf");
    assert!(w.mem.whatsapp.outbox().is_empty());
}

#[tokio::test]
async fn an_upload_no_reply_used_goes_a_day_later_and_a_used_one_after_the_retention() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let unused = upload(&w, ORG, new_upload(MediaType::Image, "image/png", 1)).await.unwrap();
    put_bytes(&w, &unused, vec![0]).await;
    let used = upload(&w, ORG, new_upload(MediaType::Image, "image/png", 1)).await.unwrap();
    put_bytes(&w, &used, vec![0]).await;
    reply_with(&w, ORG, &c.id, image(&used.id, None), t(1)).await.unwrap();
    // Before the day is over nothing goes; after it, the unused upload and its bytes only.
    assert_eq!(clean_up(w.store(), &*w.mem.blobs, t(0) + UNUSED_UPLOAD_KEPT - Duration::minutes(1)).await.unwrap(), 0);
    assert_eq!(clean_up(w.store(), &*w.mem.blobs, t(0) + UNUSED_UPLOAD_KEPT + Duration::minutes(1)).await.unwrap(), 1);
    assert_eq!(w.store().media_file(ORG, &unused.id).await.unwrap(), None);
    assert_eq!(w.mem.blobs.head(&put_key(&unused)).await.unwrap(), None);
    assert!(w.mem.blobs.head(&put_key(&used)).await.unwrap().is_some());
    assert_eq!(clean_up(w.store(), &*w.mem.blobs, t(1) + Duration::days(90) + Duration::minutes(1)).await.unwrap(), 1);
    assert_eq!(w.mem.blobs.head(&put_key(&used)).await.unwrap(), None);
}
