//! Everything stored about one customer, and what erasing them leaves: the shape of every record
//! stays (ids, types, statuses, times, counts), what identifies or quotes the person goes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::action::Action;
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::customer::{Customer, ChannelIdentity};
use crate::domain::interaction::Interaction;
use crate::domain::message::Message;
use crate::domain::routing::CapacityChange;
use crate::domain::support::{SupportTicket, TicketMessage, TicketSenderType};

/// What erasure leaves where a required text was the customer's or about them.
pub const ERASED: &str = "[erased]";

/// Everything stored about one customer of an organisation: what
/// `GET /v1/customers/{id}/export` answers, and what erasure rewrites.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerRecord {
    pub customer: Customer,
    /// Their WhatsApp addresses, each leading to them.
    pub identities: Vec<ChannelIdentity>,
    pub conversations: Vec<Conversation>,
    /// Every message of those conversations, oldest first per conversation.
    pub messages: Vec<Message>,
    pub tickets: Vec<SupportTicket>,
    pub ticket_messages: Vec<TicketMessage>,
    pub actions: Vec<Action>,
    pub interactions: Vec<Interaction>,
}

/// What erasing a customer writes: only the records it changes (a second erasure writes nothing),
/// and the identities to delete, so a new message from their number starts a new customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Erasure {
    pub customer: Option<Customer>,
    pub forget_identities: Vec<ChannelIdentity>,
    /// The customer's search terms (their name words, number, email, external id) and the claim
    /// of their external id: index entries that would still find them by what was erased.
    pub forget_search_terms: Vec<String>,
    pub forget_external_id: Option<String>,
    /// Each erased conversation, closed: the clocks it stopped ride on it (`sla_counts`), to be
    /// counted as a close counts them.
    pub conversations: Vec<Conversation>,
    /// The places of agents' capacity the closed conversations held, given back with them.
    pub places_given_back: Vec<PlaceGivenBack>,
    pub messages: Vec<Message>,
    pub tickets: Vec<SupportTicket>,
    pub ticket_messages: Vec<TicketMessage>,
    pub actions: Vec<Action>,
    pub interactions: Vec<Interaction>,
}

/// An agent's place that an erased conversation held: released in the conversation's own write
/// (as a close releases it), so a retried erasure, which finds the conversation closed and held
/// by nobody, never gives it back twice.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceGivenBack {
    pub conversation_id: String,
    pub change: CapacityChange,
}

impl Erasure {
    /// The place the erased conversation `id` gave back, if it held one.
    pub fn place_of(&self, conversation_id: &str) -> Option<&CapacityChange> {
        self.places_given_back.iter().find(|p| p.conversation_id == conversation_id).map(|p| &p.change)
    }

    /// An erased conversation whose write also moves counters (a place, the clocks it stopped):
    /// written in one transaction with them, over the version read.
    pub fn closes_with_counters(&self, c: &Conversation) -> bool {
        !c.sla_counts.is_empty() || self.place_of(&c.id).is_some()
    }

    pub fn is_empty(&self) -> bool {
        *self == Erasure::default()
    }
}

/// Keeps `after` when erasure changed `before`, stamped with `at` by `stamp`.
fn changed<T: PartialEq + Clone>(before: &T, mut after: T, stamp: impl FnOnce(&mut T)) -> Option<T> {
    (after != *before).then(|| {
        stamp(&mut after);
        after
    })
}

impl CustomerRecord {
    /// Every list in id order (creation order: ids are ULIDs), messages by conversation first:
    /// the one order every store answers in.
    pub fn in_id_order(mut self) -> Self {
        self.identities.sort_by(|a, b| a.address.cmp(&b.address));
        self.conversations.sort_by(|a, b| a.id.cmp(&b.id));
        self.messages.sort_by(|a, b| (&a.conversation_id, &a.id).cmp(&(&b.conversation_id, &b.id)));
        self.tickets.sort_by(|a, b| a.id.cmp(&b.id));
        self.ticket_messages.sort_by(|a, b| (&a.ticket_id, &a.id).cmp(&(&b.ticket_id, &b.id)));
        self.actions.sort_by(|a, b| a.id.cmp(&b.id));
        self.interactions.sort_by(|a, b| a.id.cmp(&b.id));
        self
    }

    /// The customer's erasure at `at`: names, numbers, addresses, message bodies and media
    /// references, ticket and action texts go; ids, types, statuses, times and so every counter
    /// stay. Their conversations are closed (the identity that kept one open is deleted).
    pub fn erasure(&self, at: DateTime<Utc>) -> Erasure {
        let customer = changed(
            &self.customer,
            Customer { name: None, phone: None, email: None, external_id: None, notes: None, identities: Vec::new(), ..self.customer.clone() },
            |c| c.updated_at = at,
        );
        let places_given_back = self
            .conversations
            .iter()
            .filter(|c| c.status.is_open())
            .filter_map(|c| c.holds_capacity_of.as_ref().map(|agent| PlaceGivenBack { conversation_id: c.id.clone(), change: CapacityChange::release(&c.org_id, agent, at) }))
            .collect();
        let conversations = self
            .conversations
            .iter()
            .filter_map(|c| {
                let mut erased = Conversation {
                    // The address is a phone number: keep the conversation findable by nothing.
                    customer_address: format!("erased:{}", c.customer_id),
                    last_message_preview: None,
                    status: ConversationStatus::Closed,
                    closed_at: c.closed_at.or(Some(at)),
                    close_reason: c.close_reason.or(Some(crate::domain::conversation::CloseReason::Erased)),
                    ..c.clone()
                };
                // Erased is closed: no SLA clock runs on, nothing stays in the deadline index, the
                // clocks stopped are counted (`sla_counts`) and the agent's place goes back.
                if c.status.is_open() {
                    erased.holds_capacity_of = None;
                }
                erased.closing(at);
                changed(c, erased, |e| {
                    e.updated_at = at;
                    e.version += 1;
                })
            })
            .collect();
        let messages = self.messages.iter().filter_map(|m| changed(m, erased_message(m), |_| {})).collect();
        let tickets = self
            .tickets
            .iter()
            .filter_map(|t| {
                let erased = SupportTicket {
                    phone_number: None,
                    sender_name: None,
                    issue_description: ERASED.to_string(),
                    last_message_preview: None,
                    ..t.clone()
                };
                changed(t, erased, |e| {
                    e.updated_at = at;
                    e.version += 1;
                })
            })
            .collect();
        let ticket_messages = self
            .ticket_messages
            .iter()
            .filter_map(|m| {
                let customer_side = m.sender_type == TicketSenderType::User;
                let erased = TicketMessage {
                    text: ERASED.to_string(),
                    sender_name: if customer_side { None } else { m.sender_name.clone() },
                    ..m.clone()
                };
                changed(m, erased, |_| {})
            })
            .collect();
        let actions = self
            .actions
            .iter()
            .filter_map(|a| {
                let mut erased =
                    Action { title: ERASED.to_string(), details: Default::default(), proposed_reply: None, ..a.clone() };
                if let Some(d) = &mut erased.decision {
                    d.reply_text = None;
                    d.changes = None;
                    d.previous_details = None;
                }
                changed(a, erased, |e| e.updated_at = at)
            })
            .collect();
        let interactions = self
            .interactions
            .iter()
            .filter_map(|i| {
                let erased = Interaction { title: ERASED.to_string(), description: None, outcome_details: None, ..i.clone() };
                changed(i, erased, |e| {
                    e.updated_at = at;
                    e.version += 1;
                })
            })
            .collect();
        Erasure {
            customer,
            forget_identities: self.identities.clone(),
            forget_search_terms: self.customer.search_terms().into_iter().collect(),
            forget_external_id: self.customer.external_id.clone(),
            conversations,
            places_given_back,
            messages,
            tickets,
            ticket_messages,
            actions,
            interactions,
        }
    }
}

/// A message without its body: text, WhatsApp's content (media ids, locations, contacts), what
/// it quoted or came from, and the sender's name. Its id, type, status and times stay.
fn erased_message(m: &Message) -> Message {
    let mut sender = m.sender.clone();
    sender.name = None;
    Message {
        text: m.text.as_ref().map(|_| ERASED.to_string()),
        content: None,
        context: None,
        referral: None,
        errors: None,
        outbound: None,
        sender,
        ..m.clone()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc) + chrono::Duration::minutes(minutes)
    }

    fn record() -> CustomerRecord {
        let customer: Customer = serde_json::from_value(json!({
            "id": "CU1", "org_id": "o1", "name": "Ana Ruiz", "phone": "34600111222", "email": "ana@example.com",
            "external_id": "crm-ana", "notes": "Ana prefers mornings",
            "identities": [{ "channel": "whatsapp", "address": "34600111222" }], "created_at": at(0), "updated_at": at(0)
        }))
        .unwrap();
        let conversation: Conversation = serde_json::from_value(json!({
            "id": "C1", "org_id": "o1", "customer_id": "CU1", "channel": "whatsapp", "phone_number_id": "PN1",
            "customer_address": "34600111222", "status": "open", "created_at": at(0), "updated_at": at(1),
            "last_message_at": at(1), "last_message_preview": "my card is 4111", "version": 3
        }))
        .unwrap();
        let message: Message = serde_json::from_value(json!({
            "id": "M1", "org_id": "o1", "conversation_id": "C1", "customer_id": "CU1", "direction": "inbound",
            "type": "image", "text": "my card is 4111", "content": { "id": "1166846181421424", "caption": "my card is 4111" },
            "wamid": "wamid.1", "status": "received", "sender": { "type": "customer", "name": "Ana" }, "created_at": at(1)
        }))
        .unwrap();
        let identity = ChannelIdentity {
            org_id: "o1".into(),
            channel: Default::default(),
            address: "34600111222".into(),
            customer_id: "CU1".into(),
            open_conversation_id: Some("C1".into()),
            profile_name: Some("Ana".into()),
            last_conversation_id: None,
            blocked: None,
        };
        CustomerRecord {
            customer,
            identities: vec![identity],
            conversations: vec![conversation],
            messages: vec![message],
            tickets: vec![],
            ticket_messages: vec![],
            actions: vec![],
            interactions: vec![],
        }
    }

    #[test]
    fn erasure_removes_what_identifies_the_customer_and_keeps_the_shape() {
        let r = record();
        let e = r.erasure(at(10));
        let customer = e.customer.clone().unwrap();
        assert_eq!((customer.name, customer.phone, customer.identities.len()), (None, None, 0));
        assert_eq!(e.forget_identities, r.identities);
        assert_eq!(e.forget_search_terms, ["34600111222", "ana", "ana@example.com", "crm-ana", "ruiz"]);
        assert_eq!(e.forget_external_id.as_deref(), Some("crm-ana"));
        let c = &e.conversations[0];
        assert_eq!((c.customer_address.as_str(), c.last_message_preview.as_deref(), c.status), ("erased:CU1", None, ConversationStatus::Closed));
        assert_eq!((c.version, c.closed_at), (4, Some(at(10))));
        let m = &e.messages[0];
        assert_eq!((m.text.as_deref(), m.content.is_none(), m.sender.name.as_deref()), (Some(ERASED), true, None));
        assert_eq!((m.id.as_str(), m.kind.as_str(), m.wamid.as_deref(), m.created_at), ("M1", "image", Some("wamid.1"), at(1)));
        let text = serde_json::to_string(&(&e.customer, &e.conversations, &e.messages)).unwrap();
        for secret in ["Ana", "34600111222", "4111", "1166846181421424", "ana@example.com", "crm-ana"] {
            assert!(!text.contains(secret), "{secret} survived the erasure: {text}");
        }
    }

    #[test]
    fn erasing_an_erased_customer_writes_nothing_but_forgets_identities_again() {
        let r = record();
        let e = r.erasure(at(10));
        let after = CustomerRecord {
            customer: e.customer.clone().unwrap(),
            identities: vec![],
            conversations: e.conversations.clone(),
            messages: e.messages.clone(),
            ..r
        };
        assert!(after.erasure(at(20)).is_empty());
    }
}
