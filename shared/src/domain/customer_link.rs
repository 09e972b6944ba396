//! Linking one customer into another (`docs/customers.md`, link): the secondary's identities and
//! conversations become the primary's, the secondary stays as a record `merged_into` the primary,
//! and an unlink gives back what the link took. The move is a job recorded on the link item, so a
//! link cut short is finished by asking again; these are its pure rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::customer::{Customer, Identity};
use crate::error::{Error, Result};

/// Conversations moved per transaction: each is three writes (the secondary's link deleted, the
/// primary's put, the conversation re-pointed) and the link item records the page, so 30 make 91
/// of DynamoDB's 100 items per transaction.
pub const CONVERSATIONS_PER_PAGE: usize = 30;

/// Customers one primary may hold linked: the context panel reads each of them too, so this
/// bounds its reads (`app::customer_context`).
pub const MAX_MERGED: usize = 10;

/// Identities a link moves in its first transaction, with the link item and both customers.
pub const MAX_IDENTITIES: usize = 90;

// A page, and the first transaction, fit DynamoDB's 100 items per transaction.
const _: () = assert!(CONVERSATIONS_PER_PAGE * 3 + 1 <= 100 && MAX_IDENTITIES + 3 <= 100);

/// `POST /v1/customers/{id}/link` and `/unlink`: the other customer (the secondary).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The customer linked into (or unlinked from) the one in the path.
    #[schema(min_length = 1, max_length = 128, pattern = "^\\S+$")]
    pub customer_id: String,
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// The identities are the primary's; conversations are still being moved.
    Moving,
    Done,
    /// The identities are back; conversations are still being given back.
    Unlinking,
    Unlinked,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Moving => "moving",
            LinkState::Done => "done",
            LinkState::Unlinking => "unlinking",
            LinkState::Unlinked => "unlinked",
        }
    }
}

/// The link item of a secondary customer: the job and what it moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerLink {
    pub org_id: String,
    /// The customer linked (the secondary).
    pub customer_id: String,
    /// The customer it was linked into.
    pub primary_id: String,
    pub state: LinkState,
    /// The secondary's identities as they were before the link: the primary's since, given back
    /// by an unlink.
    pub identities: Vec<Identity>,
    /// The secondary's conversations moved to the primary so far: what an unlink gives back.
    pub conversation_ids: Vec<String>,
    pub linked_by: String,
    pub linked_at: DateTime<Utc>,
    #[serde(default)]
    pub unlinked_by: Option<String>,
    #[serde(default)]
    pub unlinked_at: Option<DateTime<Utc>>,
}

/// What to do with a link asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkPlan {
    /// Nothing is linked yet: the first transaction, then the conversations.
    Start,
    /// This link was asked before (done or cut short): move what is left, nothing more.
    Resume(CustomerLink),
}

/// What to do with an unlink asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum UnlinkPlan {
    /// The link stands (done or still moving): the identities back, then the conversations.
    Start(CustomerLink),
    /// An unlink was cut short: give back the conversations left.
    Resume(CustomerLink),
    /// Already unlinked: nothing changes.
    Finished(CustomerLink),
}

fn same_customer() -> Error {
    Error::conflict("customer_id: a customer cannot be linked with itself", "same_customer")
}

/// Whether `secondary` may be linked into `primary`, given the secondary's link item if any.
pub fn plan_link(primary: &Customer, secondary: &Customer, existing: Option<&CustomerLink>) -> Result<LinkPlan> {
    if primary.id == secondary.id {
        return Err(same_customer());
    }
    match existing {
        Some(l) if matches!(l.state, LinkState::Moving | LinkState::Done) => {
            return if l.primary_id == primary.id {
                Ok(LinkPlan::Resume(l.clone()))
            } else {
                Err(Error::conflict(format!("customer_id: already linked into customer {}", l.primary_id), l.primary_id.clone()))
            };
        }
        Some(l) if l.state == LinkState::Unlinking => {
            return Err(Error::conflict(
                format!("customer_id: being unlinked from customer {}; ask that unlink again to finish it first", l.primary_id),
                l.primary_id.clone(),
            ));
        }
        _ => {}
    }
    if let Some(p) = &secondary.merged_into {
        return Err(Error::conflict(format!("customer_id: already linked into customer {p}"), p.clone()));
    }
    if let Some(p) = &primary.merged_into {
        return Err(Error::conflict(format!("id: this customer is linked into customer {p}; link into that one"), p.clone()));
    }
    if !secondary.merged_customers.is_empty() {
        return Err(Error::conflict(
            "customer_id: other customers are linked into this one; unlink them first (or link them into the primary)",
            secondary.merged_customers.join(","),
        ));
    }
    if primary.merged_customers.len() >= MAX_MERGED {
        return Err(Error::conflict(format!("id: this customer holds {MAX_MERGED} linked customers, the most it may"), primary.merged_customers.len().to_string()));
    }
    if secondary.identities.len() > MAX_IDENTITIES {
        return Err(Error::conflict(format!("customer_id: has more than {MAX_IDENTITIES} identities to move"), secondary.identities.len().to_string()));
    }
    Ok(LinkPlan::Start)
}

fn same_identity(a: &Identity, b: &Identity) -> bool {
    a.channel == b.channel && a.external_id == b.external_id
}

/// The first transaction of a link: the link item (moving, nothing moved yet), the primary with
/// the secondary's identities (linked by `by`, now) and the secondary among its merged
/// customers, the secondary emptied of its identities and `merged_into` the primary.
pub fn linked(primary: &Customer, secondary: &Customer, by: &str, now: DateTime<Utc>) -> (CustomerLink, Customer, Customer) {
    let link = CustomerLink {
        org_id: secondary.org_id.clone(),
        customer_id: secondary.id.clone(),
        primary_id: primary.id.clone(),
        state: LinkState::Moving,
        identities: secondary.identities.clone(),
        conversation_ids: Vec::new(),
        linked_by: by.to_string(),
        linked_at: now,
        unlinked_by: None,
        unlinked_at: None,
    };
    let mut p = primary.clone();
    for i in &secondary.identities {
        if !p.identities.iter().any(|own| same_identity(own, i)) {
            p.identities.push(Identity { linked_by: Some(by.to_string()), linked_at: now, ..i.clone() });
        }
    }
    p.merged_customers.push(secondary.id.clone());
    p.updated_at = now;
    p.version += 1;
    let mut s = secondary.clone();
    s.identities.clear();
    s.merged_into = Some(primary.id.clone());
    s.updated_at = now;
    s.version += 1;
    (link, p, s)
}

/// Whether the link of `secondary` into `primary` can be undone.
pub fn plan_unlink(primary: &Customer, secondary: &Customer, existing: Option<&CustomerLink>) -> Result<UnlinkPlan> {
    if primary.id == secondary.id {
        return Err(same_customer());
    }
    match existing {
        Some(l) if l.primary_id == primary.id => Ok(match l.state {
            LinkState::Moving | LinkState::Done => UnlinkPlan::Start(l.clone()),
            LinkState::Unlinking => UnlinkPlan::Resume(l.clone()),
            LinkState::Unlinked => UnlinkPlan::Finished(l.clone()),
        }),
        _ => Err(Error::conflict(format!("customer_id: not linked into customer {}", primary.id), secondary.merged_into.clone().unwrap_or_default())),
    }
}

/// The first transaction of an unlink: the link item unlinking, the primary without the
/// identities the link gave it nor the secondary among its merged customers, the secondary with
/// its identities back and no longer merged.
pub fn unlinked(link: &CustomerLink, primary: &Customer, secondary: &Customer, now: DateTime<Utc>) -> (CustomerLink, Customer, Customer) {
    let mut l = link.clone();
    l.state = LinkState::Unlinking;
    let mut p = primary.clone();
    p.identities.retain(|own| !link.identities.iter().any(|i| same_identity(own, i)));
    p.merged_customers.retain(|c| *c != secondary.id);
    p.updated_at = now;
    p.version += 1;
    let mut s = secondary.clone();
    for i in &link.identities {
        if !s.identities.iter().any(|own| same_identity(own, i)) {
            s.identities.push(i.clone());
        }
    }
    s.merged_into = None;
    s.updated_at = now;
    s.version += 1;
    (l, p, s)
}

impl CustomerLink {
    /// The link as it ends: `state` (done, or unlinked by `by` at `now`).
    pub fn ended(&self, state: LinkState, by: Option<&str>, now: DateTime<Utc>) -> CustomerLink {
        let mut l = self.clone();
        l.state = state;
        if state == LinkState::Unlinked {
            l.unlinked_by = by.map(str::to_string);
            l.unlinked_at = Some(now);
        }
        l
    }

    /// The feed's dedupe key of this link's event: one `customer.linked` and one
    /// `customer.unlinked` per link, however often either is asked.
    pub fn event_key(&self, kind: &str) -> String {
        format!("{kind}#{}#{}", self.customer_id, self.linked_at.timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::customer::IdentityChannel;

    fn now() -> DateTime<Utc> {
        "2026-12-06T10:00:00Z".parse().unwrap()
    }

    fn customer(id: &str, identities: &[(IdentityChannel, &str)]) -> Customer {
        let mut c = Customer::new(id.into(), "o1", Some(id.into()), None, None, "2026-12-01T10:00:00Z".parse().unwrap());
        c.identities = identities.iter().map(|(ch, a)| Identity::first_seen(*ch, a, c.created_at)).collect();
        c
    }

    fn current(e: Error) -> (String, Option<String>) {
        match e {
            Error::Conflict { detail, current } => (detail, current),
            other => panic!("not a 409: {other:?}"),
        }
    }

    #[test]
    fn a_link_moves_the_identities_and_an_unlink_gives_them_back_as_they_were() {
        let primary = customer("P", &[(IdentityChannel::Whatsapp, "34600111222")]);
        let secondary = customer("S", &[(IdentityChannel::ChatApp, "user-42")]);
        assert_eq!(plan_link(&primary, &secondary, None).unwrap(), LinkPlan::Start);
        let (link, p, s) = linked(&primary, &secondary, "u-sup", now());
        assert_eq!((link.state, link.primary_id.as_str(), link.identities.clone()), (LinkState::Moving, "P", secondary.identities.clone()));
        assert_eq!(p.identities.len(), 2);
        assert_eq!((p.identities[1].linked_by.as_deref(), p.identities[1].linked_at), (Some("u-sup"), now()));
        assert_eq!((p.merged_customers.clone(), p.version), (vec!["S".to_string()], 2));
        assert_eq!((s.merged_into.as_deref(), s.identities.len(), s.version), (Some("P"), 0, 2));
        // Asked again: the same link resumes; into another primary: refused naming the first.
        assert_eq!(plan_link(&p, &s, Some(&link)).unwrap(), LinkPlan::Resume(link.clone()));
        let other = customer("Q", &[]);
        let (detail, at) = current(plan_link(&other, &s, Some(&link)).unwrap_err());
        assert!(detail.starts_with("customer_id:") && at.as_deref() == Some("P"), "{detail}");
        // Unlinked: the identities go back with who made them and when.
        let done = link.ended(LinkState::Done, None, now());
        assert_eq!(plan_unlink(&p, &s, Some(&done)).unwrap(), UnlinkPlan::Start(done.clone()));
        let (l, p2, s2) = unlinked(&done, &p, &s, now());
        assert_eq!(l.state, LinkState::Unlinking);
        assert_eq!((p2.identities.clone(), p2.merged_customers.len()), (primary.identities.clone(), 0));
        assert_eq!((s2.identities.clone(), s2.merged_into.clone()), (secondary.identities.clone(), None));
        let finished = l.ended(LinkState::Unlinked, Some("u-sup"), now());
        assert_eq!(plan_unlink(&p2, &s2, Some(&finished)).unwrap(), UnlinkPlan::Finished(finished.clone()));
        // After an unlink the customer may be linked again (a new link, a new event key).
        assert_eq!(plan_link(&p2, &s2, Some(&finished)).unwrap(), LinkPlan::Start);
        assert_ne!(link.event_key("customer.linked"), link.event_key("customer.unlinked"));
    }

    #[test]
    fn refusals_name_the_field() {
        let p = customer("P", &[]);
        let s = customer("S", &[]);
        assert!(current(plan_link(&p, &p, None).unwrap_err()).0.starts_with("customer_id:"));
        assert!(current(plan_unlink(&p, &p, None).unwrap_err()).0.starts_with("customer_id:"));
        let mut merged = s.clone();
        merged.merged_into = Some("X".into());
        assert!(current(plan_link(&p, &merged, None).unwrap_err()).0.starts_with("customer_id:"));
        let mut p_merged = p.clone();
        p_merged.merged_into = Some("X".into());
        assert!(current(plan_link(&p_merged, &s, None).unwrap_err()).0.starts_with("id:"));
        let mut holding = s.clone();
        holding.merged_customers = vec!["T".into()];
        assert!(current(plan_link(&p, &holding, None).unwrap_err()).0.starts_with("customer_id:"));
        let mut full = p.clone();
        full.merged_customers = (0..MAX_MERGED).map(|i| i.to_string()).collect();
        assert!(current(plan_link(&full, &s, None).unwrap_err()).0.starts_with("id:"));
        // Unlinking what was never linked into this customer.
        assert!(current(plan_unlink(&p, &s, None).unwrap_err()).0.starts_with("customer_id:"));
        let (link, _, _) = linked(&customer("Q", &[]), &s, "u", now());
        assert!(current(plan_unlink(&p, &s, Some(&link)).unwrap_err()).0.starts_with("customer_id:"));
        // A link being unlinked is finished first.
        let unlinking = CustomerLink { state: LinkState::Unlinking, ..link };
        assert!(current(plan_link(&p, &s, Some(&unlinking)).unwrap_err()).0.starts_with("customer_id:"));
    }
}
