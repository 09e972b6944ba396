//! Live push end to end on the dev stack (docs/live-push.md), with a real WebSocket client
//! (tokio-tungstenite): the dev gateway serves the WebSocket API of template.yaml in front of
//! ws-connections (its authorizer and routes), live-push reads the table's stream and posts each
//! feed event through the real Management API SDK to the gateway, which hands it to the socket.

use chrono::Utc;
use futures::StreamExt;
use max_core::domain::event::{EventKind, NewEvent};
use max_core::domain::live_push::LiveConnection;
use max_dev::testing::{TestStack, WAIT, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn live_url(t: &TestStack, token: &str) -> String {
    let stage = &t.stack.template.websocket.as_ref().expect("template.yaml has a WebSocket API").stage;
    format!("{}/{stage}?token={token}", t.stack.url.replace("http://", "ws://"))
}

async fn connect(t: &TestStack, token: &str) -> Client {
    let (client, response) = tokio_tungstenite::connect_async(live_url(t, token)).await.expect("the dashboard connects");
    assert_eq!(response.status(), 101);
    client
}

/// The HTTP status a refused handshake answered.
async fn refused(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("refused otherwise: {e}"),
        Ok(_) => panic!("connected"),
    }
}

/// Frames until one is about `ticket`; every event's JSON on the way.
async fn until_ticket(client: &mut Client, ticket: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout(WAIT, client.next()).await.unwrap_or_else(|_| panic!("no push of {ticket}; got {seen:?}"));
        let Some(Ok(Message::Text(text))) = frame else { continue };
        let event: Value = serde_json::from_str(&text).expect("a pushed event is JSON");
        let done = event["data"]["ticket_id"] == json!(ticket);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

async fn ticket_opened(t: &TestStack, org: &str, ticket: &str) {
    let event = NewEvent::new(org, EventKind::TicketOpened, Utc::now(), json!({"ticket_id": ticket}), format!("live-{ticket}"));
    t.stack.deps.store.record_event(&event).await.expect("event recorded");
}

#[tokio::test]
async fn a_dashboard_gets_its_organisations_events_as_the_feed_shows_them_and_never_anothers() {
    let t = TestStack::start().await;
    let (a_org, b_org) = (t.org.seed.id.clone(), t.other.seed.id.clone());
    let mut a = connect(&t, &t.org.agent).await;
    let mut b = connect(&t, &t.other.agent).await;
    // WHEN both organisations' feeds record events, interleaved, and A's agent opens an action
    // through the API (its event written by api-actions like any other)
    ticket_opened(&t, &a_org, "A1").await;
    ticket_opened(&t, &b_org, "B1").await;
    let conversation = t.live_conversation().await;
    let (status, action) = t.post("/v1/actions", &t.org.agent, json!({"conversation_id": conversation, "type": "discount_request", "title": "10 % off"})).await;
    assert_eq!(status, StatusCode::CREATED, "{action}");
    ticket_opened(&t, &b_org, "B2").await;
    ticket_opened(&t, &a_org, "A2").await;
    // THEN A's dashboard gets A's events in the feed's order and none of B's (B's were recorded
    // before A2, and one stream shard is pushed in order: had A been sent one, it came first)
    let got_a = until_ticket(&mut a, "A2").await;
    let kinds: Vec<(&str, Option<&str>)> = got_a.iter().map(|e| (e["kind"].as_str().unwrap(), e["data"]["ticket_id"].as_str())).collect();
    assert!(kinds.contains(&("ticket.opened", Some("A1"))), "{kinds:?}");
    assert!(kinds.contains(&("action.created", None)), "{kinds:?}");
    assert!(!kinds.iter().any(|(_, ticket)| matches!(ticket, Some(t) if t.starts_with('B'))), "A got B's: {kinds:?}");
    assert!(got_a.iter().all(|e| e["id"].is_string() && e["at"].is_string()));
    // …each exactly as GET /v1/events lists it (one parser for both)
    let (status, feed) = t.get("/v1/events?limit=100", &t.org.agent).await;
    assert_eq!(status, StatusCode::OK);
    for pushed in &got_a {
        assert!(feed["items"].as_array().unwrap().contains(pushed), "{pushed} is not what the feed shows");
    }
    // …and B's dashboard gets B's, none of A's
    let got_b = until_ticket(&mut b, "B2").await;
    let tickets: Vec<&str> = got_b.iter().filter_map(|e| e["data"]["ticket_id"].as_str()).collect();
    assert_eq!(tickets, ["B1", "B2"]);
    assert!(got_b.iter().all(|e| e["kind"] != "action.created"), "B got A's action");
}

#[tokio::test]
async fn a_bad_token_cannot_connect() {
    let t = TestStack::start().await;
    assert_eq!(refused(&live_url(&t, "")).await, 401, "no token");
    assert_eq!(refused(&live_url(&t, "not-a-jwt")).await, 401, "garbage");
    let forged = max_dev::tokens::DevTokens::new("someone-elses-secret").mint(&t.org.seed.id, "mallory", "admin", "Mallory");
    assert_eq!(refused(&live_url(&t, &forged)).await, 401, "signed with another key");
    let no_role = t.stack.tokens.mint(&t.org.seed.id, "visitor", "visitors", "Vi Visitor");
    assert_eq!(refused(&live_url(&t, &no_role)).await, 401, "in no role group");
    assert!(t.stack.deps.store.live_connections(&t.org.seed.id, Utc::now()).await.unwrap().is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_closed_client_is_forgotten_and_a_vanished_one_is_cleaned_up_on_the_next_push() {
    let t = TestStack::start().await;
    let org = t.org.seed.id.clone();
    let open = |t: &TestStack| {
        let org = org.clone();
        let store = t.stack.deps.store.clone();
        async move { store.live_connections(&org, Utc::now()).await.unwrap() }
    };
    // A client that closes: $disconnect forgets it.
    let mut client = connect(&t, &t.org.agent).await;
    assert_eq!(open(&t).await.len(), 1, "connect stored it");
    client.close(None).await.expect("close");
    eventually("the closed connection forgotten", WAIT, || async { open(&t).await.is_empty().then_some(()) }).await;
    // A connection whose $disconnect never came (stored, no socket): the next push finds it gone
    // (410 GoneException from the Management API) and forgets it; an open one still gets the event.
    t.stack.deps.store.put_live_connection(&LiveConnection::open(&org, "VanishedConn01=", "u_gone", Utc::now())).await.unwrap();
    let mut alive = connect(&t, &t.org.agent).await;
    ticket_opened(&t, &org, "G1").await;
    until_ticket(&mut alive, "G1").await;
    eventually("the vanished connection forgotten", WAIT, || async {
        let ids: Vec<String> = open(&t).await.into_iter().map(|c| c.connection_id).collect();
        (!ids.iter().any(|id| id == "VanishedConn01=")).then_some(())
    })
    .await;
    assert_eq!(open(&t).await.len(), 1, "the open one is kept");
}
