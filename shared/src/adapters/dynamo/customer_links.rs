//! DynamoDB: the link job (`docs/customers.md`, link). The link item `ORG#o#CUSTOMER#{secondary}`
//! / `LINK` holds the job's state and what it moved; each step is one transaction conditioned on
//! it, so a retry from any point moves nothing twice and loses nothing:
//! - the switch: the link item, both customers (over their versions), the identity items
//!   (each while it still leads to the customer it leaves);
//! - a page of conversations: per conversation the old customer's `CONV#` link deleted (while it
//!   exists), the new one's put (while absent), the conversation re-pointed (while it names the
//!   old customer; its version moves, so a writer holding it reads it again), and the link item
//!   recording the page (while the link stands in its state);
//! - the end of a step: the link item's state, over the state it had.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};

use super::{DynamoStore, Item, key_map, keyed, keys, n, s};
use crate::domain::customer_link::{CustomerLink, LinkState};
use crate::error::{Error, Result};
use crate::ports::{CustomerLinkStore, LinkSwitch, Written};

fn lost() -> Error {
    Error::LostUpdate("customer link")
}

fn state_name() -> Option<HashMap<String, String>> {
    Some(HashMap::from([("#state".to_string(), "state".to_string())]))
}

/// The condition that the link stands as `link` says: its state, into its primary.
fn link_stands(link: &CustomerLink) -> (&'static str, Item) {
    let values = HashMap::from([(":state".to_string(), s(link.state.as_str())), (":primary".to_string(), s(&link.primary_id))]);
    ("#state = :state AND primary_id = :primary", values)
}

fn sdk_build(e: impl std::fmt::Display) -> Error {
    Error::backend("dynamodb", e.to_string())
}

impl DynamoStore {
    /// The link item's write in a switch: a new link is put whole (over none, or over one
    /// unlinked); a standing link only changes state, so the conversations its pages recorded stay.
    fn link_write(&self, link: &CustomerLink, over: Option<LinkState>) -> Result<TransactWriteItem> {
        let Some(over) = over else {
            let item = keyed(link, keys::customer_link(&link.org_id, &link.customer_id), &[])?;
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR #state = :unlinked")
                .set_expression_attribute_names(state_name())
                .set_expression_attribute_values(Some(HashMap::from([(":unlinked".to_string(), s(LinkState::Unlinked.as_str()))])))
                .build()
                .map_err(sdk_build)?;
            return Ok(TransactWriteItem::builder().put(put).build());
        };
        let values = HashMap::from([
            (":state".to_string(), s(link.state.as_str())),
            (":over".to_string(), s(over.as_str())),
            (":primary".to_string(), s(&link.primary_id)),
        ]);
        self.update_op(
            keys::customer_link(&link.org_id, &link.customer_id),
            "SET #state = :state",
            Some("#state = :over AND primary_id = :primary"),
            values,
            state_name(),
        )
    }

    /// Deletes a key-only link while it exists.
    fn link_delete(&self, key: (String, String)) -> Result<TransactWriteItem> {
        let delete = Delete::builder().table_name(self.table()).set_key(Some(key_map(key))).condition_expression("attribute_exists(pk)").build().map_err(sdk_build)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

#[async_trait]
impl CustomerLinkStore for DynamoStore {
    async fn customer_link(&self, org_id: &str, customer_id: &str) -> Result<Option<CustomerLink>> {
        self.get_consistent(keys::customer_link(org_id, customer_id)).await
    }

    async fn switch_customers(&self, step: &LinkSwitch<'_>) -> Result<()> {
        let mut items = vec![self.link_write(step.link, step.over)?];
        for (read, next) in step.customers {
            items.push(self.customer_put_over(next, read.version)?);
        }
        for i in step.identities {
            let values = HashMap::from([(":from".to_string(), s(step.from)), (":to".to_string(), s(step.to))]);
            items.push(self.update_op(keys::identity_of(i), "SET customer_id = :to", Some("customer_id = :from"), values, None)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(lost()),
        }
    }

    async fn conversations_linked(&self, org_id: &str, customer_id: &str, limit: usize) -> Result<Vec<String>> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :conv)")
            .expression_attribute_values(":pk", s(keys::customer_pk(org_id, customer_id)))
            .expression_attribute_values(":conv", s("CONV#"))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
        let sort_key = |item: &Item| item.get("sk").and_then(|v| v.as_s().ok()).and_then(|sk| sk.strip_prefix("CONV#")).map(str::to_string);
        Ok(out.items.unwrap_or_default().iter().filter_map(sort_key).collect())
    }

    async fn linked_among(&self, org_id: &str, customer_id: &str, ids: &[String]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<_> = ids.iter().map(|id| keys::customer_conversation(org_id, customer_id, id)).collect();
        let found = self.get_many_consistent(&wanted).await?;
        Ok(ids.iter().zip(found).filter(|(_, item)| item.is_some()).map(|(id, _)| id.clone()).collect())
    }

    async fn move_conversations(&self, link: &CustomerLink, ids: &[String], from: &str, to: &str) -> Result<()> {
        let org = &link.org_id;
        let mut items = Vec::with_capacity(ids.len() * 3 + 1);
        for id in ids {
            items.push(self.link_delete(keys::customer_conversation(org, from, id))?);
            items.push(self.put_op(key_map(keys::customer_conversation(org, to, id)), Some("attribute_not_exists(pk)"), None)?);
            let values = HashMap::from([(":from".to_string(), s(from)), (":to".to_string(), s(to)), (":one".to_string(), n(1))]);
            items.push(self.update_op(keys::conversation(org, id), "SET customer_id = :to ADD version :one", Some("customer_id = :from"), values, None)?);
        }
        let (condition, mut values) = link_stands(link);
        let link_key = keys::customer_link(org, &link.customer_id);
        if link.state == LinkState::Moving {
            values.insert(":ids".into(), AttributeValue::L(ids.iter().map(s).collect()));
            items.push(self.update_op(link_key, "SET conversation_ids = list_append(conversation_ids, :ids)", Some(condition), values, state_name())?);
        } else {
            let check = ConditionCheck::builder()
                .table_name(self.table())
                .set_key(Some(key_map(link_key)))
                .condition_expression(condition)
                .set_expression_attribute_names(state_name())
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(sdk_build)?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(lost()),
        }
    }

    async fn end_link_step(&self, link: &CustomerLink, over: LinkState) -> Result<Written> {
        let mut values = HashMap::from([
            (":state".to_string(), s(link.state.as_str())),
            (":over".to_string(), s(over.as_str())),
            (":primary".to_string(), s(&link.primary_id)),
        ]);
        let mut set = vec!["#state = :state"];
        if let (Some(by), Some(at)) = (&link.unlinked_by, &link.unlinked_at) {
            values.insert(":by".into(), s(by));
            values.insert(":at".into(), serde_dynamo::to_attribute_value(at).map_err(|e| Error::backend("dynamodb", e))?);
            set.extend(["unlinked_by = :by", "unlinked_at = :at"]);
        }
        let expression = format!("SET {}", set.join(", "));
        let update = self.update_op(
            keys::customer_link(&link.org_id, &link.customer_id),
            &expression,
            Some("#state = :over AND primary_id = :primary"),
            values,
            state_name(),
        )?;
        Ok(match self.transact(vec![update]).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_item_sits_in_the_secondarys_partition_beside_its_customer() {
        assert_eq!(keys::customer_link("o1", "S"), ("ORG#o1#CUSTOMER#S".to_string(), "LINK".to_string()));
    }
}
