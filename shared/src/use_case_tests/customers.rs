//! `app::customers`: export and erasure of a customer, once, in their organisation only.

use super::*;
use crate::app::customers::{erase, export};
use crate::domain::erasure::ERASED;
use crate::ports::CustomerStore;

#[tokio::test(start_paused = true)]
async fn a_customer_is_exported_whole_and_erased_once() {
    // GIVEN a customer who wrote "hello"
    let w = World::new().with_channel(None).await;
    let received = w.given_conversation().await;
    let customer_id = received.conversation.customer_id.clone();
    // WHEN an admin exports them
    let record = export(w.store(), ORG, &customer_id).await.unwrap();
    // THEN the export holds their number and their message
    let exported = serde_json::to_string(&record).unwrap();
    assert!(exported.contains(CUSTOMER) && exported.contains("\"hello\""), "{exported}");
    // WHEN the customer is erased, twice
    erase(w.store(), &w.deps.routing_ports(), ORG, &customer_id, &admin_actor(), t(5)).await.unwrap();
    let once = export(w.store(), ORG, &customer_id).await.unwrap();
    erase(w.store(), &w.deps.routing_ports(), ORG, &customer_id, &admin_actor(), t(6)).await.unwrap();
    // THEN nothing of theirs is left but the shape, and the second erasure changed nothing
    let erased = serde_json::to_string(&once).unwrap();
    assert!(!erased.contains(CUSTOMER) && !erased.contains("\"hello\""), "{erased}");
    assert_eq!(once.messages.len(), record.messages.len(), "the messages stay, without their bodies");
    assert!(once.messages.iter().all(|m| m.text.as_deref().is_none_or(|t| t == ERASED)));
    assert_eq!(export(w.store(), ORG, &customer_id).await.unwrap(), once);
    // and their number no longer leads to them: a new message starts a new customer
    assert!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().is_none());
    // AND the audit trail says once that the admin erased them, and nothing of what was erased
    let query = crate::domain::audit::AuditQuery::default();
    let trail = crate::ports::AuditStore::audit_entries(w.store(), ORG, &query, &crate::ports::PageRequest { limit: 10, cursor: None }).await.unwrap().items;
    assert_eq!(trail.len(), 1, "the repeat changed nothing, so recorded nothing: {trail:?}");
    assert_eq!((trail[0].entity_id.as_str(), trail[0].operation.as_str(), &trail[0].actor), (customer_id.as_str(), "erase", &admin_actor()));
    let recorded = serde_json::to_string(&trail[0]).unwrap();
    assert!(!recorded.contains(CUSTOMER) && !recorded.contains("hello"), "{recorded}");
}

#[tokio::test(start_paused = true)]
async fn another_organisations_customer_is_not_found() {
    let w = World::new().with_channel(None).await;
    let customer_id = w.given_conversation().await.conversation.customer_id;
    assert_not_found(export(w.store(), OTHER_ORG, &customer_id).await, "customer");
    assert_not_found(erase(w.store(), &w.deps.routing_ports(), OTHER_ORG, &customer_id, &admin_actor(), t(5)).await, "customer");
    assert_not_found(erase(w.store(), &w.deps.routing_ports(), ORG, "nobody", &admin_actor(), t(5)).await, "customer");
    // and nothing was erased
    assert!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().is_some());
}

// ------------------------------------------------------------------ created, edited, searched

mod by_hand {
    use super::*;
    use crate::app::customers::{create, search, update};
    use crate::domain::customer::{CustomerChanges, IdentityChannel, NewCustomer};
    use crate::http::page_request;

    fn input(body: Value) -> NewCustomer {
        serde_json::from_value(body).unwrap()
    }

    fn changes(body: Value) -> CustomerChanges {
        serde_json::from_value(body).unwrap()
    }

    async fn found(w: &World, org: &str, q: &str) -> Vec<String> {
        let page = search(w.store(), org, q, &page_request(Some(100), None).unwrap()).await.unwrap();
        page.items.into_iter().map(|c| c.id).collect()
    }

    fn conflict_current(e: Error) -> String {
        match e {
            Error::Conflict { current: Some(current), .. } => current,
            other => panic!("not a 409: {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_customer_created_with_a_phone_receives_that_numbers_messages() {
        // GIVEN a customer an agent created with Meta's fixture number
        let w = World::new().with_channel(None).await;
        let ana = create(w.store(), ORG, &input(json!({ "name": "Ana Ruiz", "phone": format!("+{CUSTOMER}") })), "u-agent", t(0)).await.unwrap();
        assert_eq!(ana.identities[0].linked_by.as_deref(), Some("u-agent"));
        // WHEN that number writes
        let received = w.given_conversation().await;
        // THEN the message lands on the customer created by hand, not on a new one
        assert_eq!(received.conversation.customer_id, ana.id);
    }

    #[tokio::test(start_paused = true)]
    async fn a_number_or_external_id_already_a_customers_is_refused_naming_them() {
        let w = World::new().with_channel(None).await;
        // GIVEN a customer who wrote on WhatsApp, and one with an external id
        let wrote = w.given_conversation().await.conversation.customer_id;
        let crm = create(w.store(), ORG, &input(json!({ "external_id": "crm-1" })), "u1", t(0)).await.unwrap();
        // WHEN the same number, the same id, are created again (a retry, a second agent)
        let by_phone = create(w.store(), ORG, &input(json!({ "name": "Dup", "phone": CUSTOMER })), "u1", t(1)).await.unwrap_err();
        let by_id = create(w.store(), ORG, &input(json!({ "external_id": "crm-1" })), "u1", t(1)).await.unwrap_err();
        // THEN 409 naming who has them, and nothing new is findable
        assert_eq!(conflict_current(by_phone), wrote);
        assert_eq!(conflict_current(by_id), crm.id);
        assert!(found(&w, ORG, "dup").await.is_empty());
        // Another organisation may have the same number and id.
        assert!(create(w.store(), OTHER_ORG, &input(json!({ "phone": CUSTOMER, "external_id": "crm-1" })), "u9", t(1)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn customers_are_found_by_name_words_phone_digits_email_and_external_id_prefixes() {
        let w = World::new().with_channel(None).await;
        let ana = create(w.store(), ORG, &input(json!({ "name": "Ana María Ruiz", "phone": "+34600111222", "email": "ana@ruiz.es", "external_id": "CRM-77" })), "u1", t(0)).await.unwrap();
        let anabel = create(w.store(), ORG, &input(json!({ "name": "Anabel Ana" })), "u1", t(0)).await.unwrap();
        let wrote = w.given_conversation().await.conversation.customer_id; // named by WhatsApp's profile
        create(w.store(), OTHER_ORG, &input(json!({ "name": "Ana Other" })), "u9", t(0)).await.unwrap();
        let mut both = vec![ana.id.clone(), anabel.id.clone()];
        both.sort();
        let mut ana_hits = found(&w, ORG, "ana").await;
        ana_hits.sort();
        assert_eq!(ana_hits, both, "each once, however many of their terms start with it");
        assert_eq!(found(&w, ORG, "ANA rui").await, [ana.id.as_str()]);
        assert_eq!(found(&w, ORG, "+34 600 11").await, [ana.id.as_str()]);
        assert_eq!(found(&w, ORG, "ana@ruiz").await, [ana.id.as_str()]);
        assert_eq!(found(&w, ORG, "crm-7").await, [ana.id.as_str()]);
        assert_eq!(found(&w, ORG, "maría").await, [ana.id.as_str()]);
        assert_eq!(found(&w, ORG, &CUSTOMER[..6]).await, [wrote]);
        assert!(found(&w, ORG, "other").await.is_empty(), "another organisation's customers");
        assert!(matches!(search(w.store(), ORG, " ", &page_request(None, None).unwrap()).await, Err(Error::Invalid { field, .. }) if field == "q"));
    }

    #[tokio::test(start_paused = true)]
    async fn search_pages_follow_the_cursor_without_losing_or_repeating_anyone() {
        let w = World::new();
        let mut created = Vec::new();
        for n in 0..7 {
            created.push(create(w.store(), ORG, &input(json!({ "name": format!("Lee Lee{n}") })), "u1", t(n)).await.unwrap().id);
        }
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let page = search(w.store(), ORG, "lee", &page_request(Some(3), cursor).unwrap()).await.unwrap();
            seen.extend(page.items.into_iter().map(|c| c.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        seen.sort();
        created.sort();
        assert_eq!(seen, created);
    }

    #[tokio::test(start_paused = true)]
    async fn an_edit_applies_over_the_version_read_and_moves_the_search_terms() {
        let w = World::new();
        let c = create(w.store(), ORG, &input(json!({ "name": "Ana Ruiz", "email": "ana@x.io", "tags": ["vip"] })), "u1", t(0)).await.unwrap();
        // WHEN renamed over version 1
        let edited = update(w.store(), ORG, &c.id, &changes(json!({ "name": "Ana Gil", "email": null, "language": "es", "version": 1 })), t(1)).await.unwrap();
        assert_eq!((edited.version, edited.name.as_deref(), edited.email.as_deref(), edited.language.as_deref()), (2, Some("Ana Gil"), None, Some("es")));
        assert_eq!(edited.tags, ["vip"], "what the change leaves out stays");
        // THEN the old words find nothing, the new ones find them
        assert!(found(&w, ORG, "ruiz").await.is_empty() && found(&w, ORG, "ana@x").await.is_empty());
        assert_eq!(found(&w, ORG, "gil").await, [c.id.clone()]);
        // AND a change made over the old version is refused with the version now, writing nothing
        let stale = update(w.store(), ORG, &c.id, &changes(json!({ "name": "Lost", "version": 1 })), t(2)).await.unwrap_err();
        assert_eq!(conflict_current(stale), "2");
        assert!(found(&w, ORG, "lost").await.is_empty());
        assert_not_found(update(w.store(), OTHER_ORG, &c.id, &changes(json!({ "version": 2 })), t(2)).await, "customer");
    }

    #[tokio::test(start_paused = true)]
    async fn a_customer_of_whatsapp_stored_before_versions_is_edited_at_version_one() {
        let w = World::new().with_channel(None).await;
        let id = w.given_conversation().await.conversation.customer_id;
        let edited = update(w.store(), ORG, &id, &changes(json!({ "tags": ["fleet"], "version": 1 })), t(1)).await.unwrap();
        assert_eq!((edited.version, edited.identities[0].channel, edited.identities[0].linked_by.clone()), (2, IdentityChannel::Whatsapp, None));
    }

    #[tokio::test(start_paused = true)]
    async fn an_erased_customer_is_no_longer_found_and_their_external_id_is_free_again() {
        let w = World::new();
        let c = create(w.store(), ORG, &input(json!({ "name": "Ana Ruiz", "external_id": "crm-1" })), "u1", t(0)).await.unwrap();
        erase(w.store(), &w.deps.routing_ports(), ORG, &c.id, &admin_actor(), t(1)).await.unwrap();
        assert!(found(&w, ORG, "ana").await.is_empty() && found(&w, ORG, "crm").await.is_empty());
        assert!(create(w.store(), ORG, &input(json!({ "external_id": "crm-1" })), "u1", t(2)).await.is_ok());
    }
}
