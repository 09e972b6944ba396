//! The organisation's WhatsApp templates on DynamoDB: one item per template, keyed by Meta's id
//! (`ORG#{org}#WATEMPLATE#{id}`), and on gsi1 under `ORG#{org}#WATEMPLATES` sorted by
//! `{name}#{language}#{id}`, so a send finds a template by name and language with a key
//! condition and a list reads by name (`docs/data-model.md`).

use async_trait::async_trait;

use crate::domain::audit::AuditEntry;
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

    async fn save_whatsapp_template(&self, template: &WhatsAppTemplate, audit: Option<&AuditEntry>) -> Result<Written> {
        self.put_versioned(template_item(template)?, template.version, audit).await
    }

    async fn delete_whatsapp_template(&self, org_id: &str, template_id: &str, audit: Option<&AuditEntry>) -> Result<Written> {
        self.delete_existing(keys::whatsapp_template(org_id, template_id), audit).await
    }
}
