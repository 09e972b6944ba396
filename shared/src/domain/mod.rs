//! Plain types and pure rules. No I/O, no async: everything here is tested in microseconds.

pub mod action;
pub mod bot;
pub mod call;
pub mod call_schedule;
pub mod canned;
pub mod channel;
pub mod conversation;
pub mod customer;
pub mod erasure;
pub mod event;
pub mod ids;
pub mod interaction;
pub mod media;
pub mod message;
pub mod outbound;
pub mod rate_limit;
pub mod response_template;
pub mod retry;
pub mod secret;
pub mod support;
pub mod survey;
pub mod transaction;
pub mod twilio;
pub mod webhook;
pub mod whatsapp_template;
pub mod workflow;
