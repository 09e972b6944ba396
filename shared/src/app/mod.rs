//! Use cases, one module per feature, written only against ports.

pub mod access_tokens;
pub mod actions;
pub mod audit;
pub mod bot;
pub mod calls;
pub mod campaigns;
pub mod canned;
pub mod channels;
pub mod chat_app;
pub mod conversations;
pub mod customer_context;
pub mod customer_links;
pub mod customers;
pub mod delivery;
pub mod events;
pub mod inbound;
pub mod interaction_alerts;
pub mod interactions;
pub mod media;
pub mod rate_limits;
pub mod routing;
pub mod sla;
pub mod support;
pub mod teams;
pub mod transactions;
pub mod voice;
pub mod live_push;
pub mod webhook_delivery;
pub mod webhooks;
pub mod whatsapp_templates;

