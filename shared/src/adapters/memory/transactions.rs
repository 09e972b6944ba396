//! A customer's transactions in memory (`adapters::dynamo::transactions`): one per business id
//! and customer, put only when absent; listed newest `occurred_at` first by the same list key,
//! paged like DynamoDB.

use async_trait::async_trait;

use super::{MemoryStore, fill_page};
use crate::domain::transaction::Transaction;
use crate::error::Result;
use crate::ports::{Page, PageRequest, TransactionPut, TransactionStore};

#[async_trait]
impl TransactionStore for MemoryStore {
    async fn record_transaction(&self, t: &Transaction) -> Result<TransactionPut> {
        let mut st = self.write("record_transaction")?;
        let k = (t.org_id.clone(), t.customer_id.clone(), t.fields.id.clone());
        if let Some(stored) = st.transactions.get(&k) {
            return Ok(TransactionPut::Exists(stored.clone()));
        }
        st.transactions.insert(k, t.clone());
        Ok(TransactionPut::Stored)
    }

    async fn transactions(&self, org_id: &str, customer_id: &str, page: &PageRequest) -> Result<Page<Transaction>> {
        let st = self.read("transactions")?;
        let mut entries: Vec<(String, Transaction)> = st
            .transactions
            .values()
            .filter(|t| t.org_id == org_id && t.customer_id == customer_id)
            .map(|t| (t.list_key(), t.clone()))
            .collect();
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        fill_page(&format!("ORG#{org_id}#CUSTOMER#{customer_id}#TXNS"), entries, false, |_| true, page)
    }
}
