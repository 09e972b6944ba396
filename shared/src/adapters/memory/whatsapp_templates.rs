//! The organisation's WhatsApp templates, in memory (`adapters::dynamo::whatsapp_templates`): the
//! same order (`{name}#{language}#{id}`), filters, pages and conditional writes.

use async_trait::async_trait;

use super::{MemoryStore, fill_page, key, written};
use crate::domain::audit::AuditEntry;
use crate::domain::whatsapp_template::{TemplateFilter, WhatsAppTemplate};
use crate::error::Result;
use crate::ports::{Page, PageRequest, WhatsAppTemplateStore, Written};

fn sort_key(t: &WhatsAppTemplate) -> String {
    format!("{}#{}#{}", t.name, t.language, t.id)
}

impl MemoryStore {
    /// The organisation's templates whose sort key starts with `prefix`, in sort-key order.
    fn templates_under(&self, operation: &'static str, org_id: &str, prefix: &str) -> Result<Vec<(String, WhatsAppTemplate)>> {
        let st = self.read(operation)?;
        let mut all: Vec<(String, WhatsAppTemplate)> = st
            .whatsapp_templates
            .range(key(org_id, "")..)
            .take_while(|((o, _), _)| o == org_id)
            .map(|(_, t)| (sort_key(t), t.clone()))
            .filter(|(k, _)| k.starts_with(prefix))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }
}

#[async_trait]
impl WhatsAppTemplateStore for MemoryStore {
    async fn whatsapp_template(&self, org_id: &str, template_id: &str) -> Result<Option<WhatsAppTemplate>> {
        Ok(self.read("whatsapp_template")?.whatsapp_templates.get(&key(org_id, template_id)).cloned())
    }

    async fn whatsapp_templates_named(&self, org_id: &str, name: &str, language: &str) -> Result<Vec<WhatsAppTemplate>> {
        let prefix = format!("{name}#{language}#");
        Ok(self.templates_under("whatsapp_templates_named", org_id, &prefix)?.into_iter().map(|(_, t)| t).collect())
    }

    async fn whatsapp_templates(&self, org_id: &str, filter: &TemplateFilter, page: &PageRequest) -> Result<Page<WhatsAppTemplate>> {
        let prefix = filter.name.as_ref().map(|n| format!("{n}#")).unwrap_or_default();
        let entries = self.templates_under("whatsapp_templates", org_id, &prefix)?;
        let partition = format!("ORG#{org_id}#WATEMPLATES");
        fill_page(&partition, entries, true, |t| filter.admits(t), page)
    }

    async fn save_whatsapp_template(&self, template: &WhatsAppTemplate, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("save_whatsapp_template")?;
        let k = key(&template.org_id, &template.id);
        let stored = st.whatsapp_templates.get(&k);
        let fits = if template.version <= 1 { stored.is_none() } else { stored.is_some_and(|s| s.version == template.version - 1) };
        let fits = super::audit::with_entry(&mut st, fits, audit);
        if fits {
            st.whatsapp_templates.insert(k, template.clone());
        }
        Ok(written(fits))
    }

    async fn delete_whatsapp_template(&self, org_id: &str, template_id: &str, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("delete_whatsapp_template")?;
        let k = key(org_id, template_id);
        let there = st.whatsapp_templates.contains_key(&k);
        let removed = super::audit::with_entry(&mut st, there, audit) && st.whatsapp_templates.remove(&k).is_some();
        Ok(written(removed))
    }
}
