//! The store contract (`max_core::adapters::contract`) on DynamoDB: every case on a fresh table
//! in moto, the same cases the memory store passes in max-core's unit tests.

use max_core::adapters::contract::Fixture;
use max_core::adapters::dynamo::DynamoStore;
use max_dev::testing::{TestOptions, TestStack};

/// A fresh stack (own table) with nothing polling its queues: the cases call the store only.
struct Moto(TestStack);

impl Fixture for Moto {
    type Store = DynamoStore;
    fn store(&self) -> &DynamoStore {
        &self.0.stack.dynamo
    }
}

async fn fresh() -> Moto {
    Moto(TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await)
}

max_core::store_contract!(#[tokio::test] fresh);
