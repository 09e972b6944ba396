//! Cold-start wiring: build the clients once, lend them to every invocation (SQS batches and the
//! scheduled sweep).

use lambda_runtime::Error;
use max_core::config::{Deps, Needs};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::NextSteps], ..Needs::default() }).await;
    max_core::batch::serve_queue_and_sweep(|batch| next_step::handle(batch, &deps), || next_step::sweep(&deps)).await
}
