//! The peers' HTTP clients build in a process that installed nothing first, as a function's
//! `main` builds them at cold start. Its own test binary, so no other test has installed the TLS
//! provider in this process (call-dialer once aborted at cold start on reqwest's
//! "No provider set": the unit tests had installed the provider themselves).

use std::time::Duration;

use max_core::adapters::graph::GraphApi;
use max_core::adapters::twilio::TwilioVoice;

#[test]
fn the_twilio_and_graph_clients_build_without_anything_installed_first() {
    let _ = TwilioVoice::new("https://api.twilio.com", Duration::from_secs(5));
    let _ = GraphApi::new("https://graph.facebook.com/v21.0", Duration::from_secs(5));
}
