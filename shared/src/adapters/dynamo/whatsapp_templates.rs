//! The organisation's WhatsApp templates on DynamoDB: one item per template, keyed by Meta's id
//! (`ORG#{org}#WATEMPLATE#{id}`), and on gsi1 under `ORG#{org}#WATEMPLATES` sorted by
//! `{name}#{language}#{id}`, so a send finds a template by name and language with a key
//! condition and a list reads by name (`docs/data-model.md`).

use std::collections::HashMap;

use async_trait::async_trait;

use crate::domain::whatsapp_template::{TemplateFilter, WhatsAppTemplate};
use crate::error::Result;
use crate::ports::{Page, PageRequest, WhatsAppTemplateStore, Written};

use super::*;

fn template_item(t: &WhatsAppTemplate) -> Result<Item> {
    keyed(
        t,
        keys::whatsapp_template(&t.org_id, &t.id),
        &[("gsi1pk", keys::whatsapp_templates(&t.org_id)), ("gsi1sk", keys::whatsapp_template_sort(&t.name, &t.language, &t.id))],
    )
}

impl DynamoStore {
    async fn templates_under(&self, org_id: &str, prefix: &str, filters: Filters, page: &PageRequest) -> Result<Page<WhatsAppTemplate>> {
        let q = IndexQuery {
            index: Some("gsi1"),
            partition_attr: "gsi1pk",
            partition: keys::whatsapp_templates(org_id),
            sort_attr: "gsi1sk",
            prefix,
            from: None,
            to: None,
            forward: true,
        };
        self.query_index(q, filters, page).await
    }
}

#[async_trait]
impl WhatsAppTemplateStore for DynamoStore {
    async fn whatsapp_template(&self, org_id: &str, template_id: &str) -> Result<Option<WhatsAppTemplate>> {
        self.get_consistent(keys::whatsapp_template(org_id, template_id)).await
    }

    async fn whatsapp_templates_named(&self, org_id: &str, name: &str, language: &str) -> Result<Vec<WhatsAppTemplate>> {
        // One per WhatsApp Business Account of the organisation: a page of 100 holds them all.
        let prefix = format!("{name}#{language}#");
        let page = PageRequest { limit: 100, cursor: None };
        Ok(self.templates_under(org_id, &prefix, Filters::default(), &page).await?.items)
    }

    async fn whatsapp_templates(&self, org_id: &str, filter: &TemplateFilter, page: &PageRequest) -> Result<Page<WhatsAppTemplate>> {
        let mut filters = Filters::default();
        if let Some(status) = filter.status {
            filters.equals("status", status.as_str());
        }
        let prefix = filter.name.as_ref().map(|n| format!("{n}#")).unwrap_or_default();
        self.templates_under(org_id, &prefix, filters, page).await
    }

    async fn save_whatsapp_template(&self, template: &WhatsAppTemplate) -> Result<Written> {
        let item = template_item(template)?;
        let mut put = self.client().put_item().table_name(self.table()).set_item(Some(item));
        put = if template.version <= 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :previous").set_expression_attribute_values(Some(HashMap::from([(":previous".to_string(), n(template.version - 1))])))
        };
        match put.send().await {
            Ok(_) => Ok(Written::Stored),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(Written::AlreadyThere),
            Err(e) => Err(super::super::sdk_error("dynamodb", e)),
        }
    }

    async fn delete_whatsapp_template(&self, org_id: &str, template_id: &str) -> Result<Written> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key_map(keys::whatsapp_template(org_id, template_id))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Stored),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(Written::AlreadyThere),
            Err(e) => Err(super::super::sdk_error("dynamodb", e)),
        }
    }
}
