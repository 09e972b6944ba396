//! The store contract (`max_core::adapters::contract`) on DynamoDB: every case on a fresh table
//! in moto, the same cases the memory store passes in max-core's unit tests; and the secrets and
//! blob contracts on Secrets Manager and S3 (a fresh stack: its own secrets prefix and bucket).

use max_core::adapters::contract::{BlobFixture, Fixture, SecretsFixture};
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

impl SecretsFixture for Moto {
    fn secrets(&self) -> &dyn max_core::ports::Secrets {
        &*self.0.stack.deps.secrets
    }
}

impl BlobFixture for Moto {
    fn blobs(&self) -> &dyn max_core::ports::BlobStore {
        &*self.0.stack.deps.blobs
    }
}

max_core::secrets_contract!(#[tokio::test] fresh);
max_core::blob_contract!(#[tokio::test] fresh);
