//! A large customer document through media-worker's use case (issue 12): `--mb` megabytes (100 by
//! default) served by a fake Meta on a local socket, written as it is read (never held whole by
//! the fake either), fetched by the real Graph client as a stream, hashed on the way and uploaded
//! to S3 in moto by multipart. Reports the time, the parts, and this process's resident memory
//! before and at its peak (`VmHWM`): what matters is that the peak grows by about one part
//! (8 MiB) and a few buffers, not by the file's size. The run checks the stored object's size and
//! the record's SHA-256 against Meta's.
//!
//! Usage: bench-media [--mb 100]

use std::time::Instant;

use chrono::Utc;
use max_core::adapters::graph::GraphApi;
use max_core::app::media::{Fetched, MediaPorts, fetch};
use max_core::domain::media::{Fingerprint, MediaFile, MediaJob, media_reference};
use max_core::ports::{MediaStore, PART_BYTES};
use max_dev::bench::arg;
use max_dev::testing::{TestOptions, TestStack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 64 * 1024;
const MEDIA_ID: &str = "1597321124388452";

/// Byte `i` of the document: deterministic, so the fake can serve it and hash it without keeping it.
fn chunk_at(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// The resident set now and at its peak, in MiB (Linux `/proc/self/status`).
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| {
        status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// A fake Meta: `GET /v23.0/{id}` answers the URL, size and hash; `GET /file` streams the bytes.
async fn fake_meta(size: usize, sha256: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let served = base.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let (sha256, base) = (sha256.clone(), served.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
                if line.contains(&format!("/v23.0/{MEDIA_ID}")) {
                    let body = serde_json::json!({"messaging_product": "whatsapp", "url": format!("{base}/file"), "mime_type": "application/pdf", "sha256": sha256, "file_size": size, "id": MEDIA_ID}).to_string();
                    let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                    let _ = socket.write_all(answer.as_bytes()).await;
                } else {
                    let header = format!("HTTP/1.1 200 OK\r\ncontent-type: application/pdf\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n");
                    if socket.write_all(header.as_bytes()).await.is_err() {
                        return;
                    }
                    let mut sent = 0;
                    while sent < size {
                        let n = CHUNK.min(size - sent);
                        if socket.write_all(&chunk_at(sent, n)).await.is_err() {
                            return;
                        }
                        sent += n;
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    base
}

#[tokio::main]
async fn main() {
    let size = arg("--mb", 100) as usize * 1024 * 1024;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut fp = Fingerprint::default();
    for offset in (0..size).step_by(CHUNK) {
        fp.update(&chunk_at(offset, CHUNK.min(size - offset)));
    }
    let sha256 = fp.sha256();
    let meta = fake_meta(size, sha256.clone()).await;
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let org = t.org.seed.id.clone();
    let r = media_reference("document", Some(&serde_json::json!({"id": MEDIA_ID, "filename": "service-manual.pdf", "mime_type": "application/pdf"}))).expect("a document");
    let file = MediaFile::pending(&org, "01JBENCHCONV00000000000000", "01JBENCHMSG000000000000000", &t.org.seed.phone_number_id, &r, Utc::now());
    t.stack.dynamo.create_media_file(&file).await.expect("record");
    let graph = GraphApi::new(&format!("{meta}/v23.0"), std::time::Duration::from_secs(600));
    let deps = &t.stack.deps;
    let ports = MediaPorts { whatsapp: &graph, ..deps.media_ports() };
    let job = MediaJob { org_id: org.clone(), media_id: file.id.clone() };

    let (rss_before, peak_before) = memory();
    let started = Instant::now();
    let outcome = fetch(&ports, &job, 1).await.expect("fetch");
    let elapsed = started.elapsed();
    let (rss_after, peak_after) = memory();
    assert_eq!(outcome, Fetched::Stored);
    let stored = t.stack.dynamo.media_file(&org, &file.id).await.expect("read").expect("the record");
    assert_eq!((stored.size, stored.sha256.as_deref()), (Some(size as u64), Some(sha256.as_str())), "Meta's size and hash");
    let key = stored.storage_key.clone().expect("a key");
    let head = t.stack.s3.head_object().bucket(&t.stack.settings.media_bucket.clone().expect("bucket")).key(&key).send().await.expect("HEAD");
    assert_eq!(head.content_length(), Some(size as i64));
    println!("bench-media: {} MiB document stored at {key}", size / (1024 * 1024));
    println!("  time {:.2} s ({:.1} MiB/s), {} multipart parts of {} MiB", elapsed.as_secs_f64(), size as f64 / 1_048_576.0 / elapsed.as_secs_f64(), size.div_ceil(PART_BYTES), PART_BYTES / (1024 * 1024));
    println!("  resident memory: {rss_before:.1} MiB before, {rss_after:.1} MiB after; peak {peak_before:.1} MiB before the fetch, {peak_after:.1} MiB after (+{:.1} MiB for the file)", peak_after - peak_before);
}
