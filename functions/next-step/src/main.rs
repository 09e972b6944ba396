//! Cold-start wiring: build the clients once, lend them to every invocation (SQS batches and the
//! scheduled sweep).

use lambda_runtime::Error;
use max_core::batch::StopBy;
use max_core::config::{Deps, Needs};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::NextSteps], ..Needs::default() }).await;
    let handle = |batch, context| next_step::handle(batch, &deps, StopBy::before_deadline(&context, next_step::RECORD_RESERVE));
    max_core::batch::serve_queue_and_sweep(handle, || next_step::sweep(&deps)).await
}
