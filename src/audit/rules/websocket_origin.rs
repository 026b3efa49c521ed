//! `websocket-origin`: a WebSocket handshake with a foreign `Origin` was
//! accepted (`101`). Browsers do not apply the same-origin policy to
//! WebSockets, so any page can talk to the endpoint (cross-site WebSocket
//! hijacking, as with Vite's HMR socket before 6.0.9).

use super::Context;
use crate::audit::probes::Observation;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::WebsocketOrigin { evidence } => Some(context.finding(
                RuleId::WebsocketOrigin,
                Severity::Medium,
                evidence.clone(),
                "refuse WebSocket handshakes whose Origin is not your own page (compare `Origin` with an allow-list before upgrading)".into(),
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    #[test]
    fn accepted_foreign_origin_is_reported() {
        let target = target("127.0.0.1", 5173);
        let seen = outcome("http", vec![Observation::WebsocketOrigin { evidence: "101".into() }]);
        assert_eq!(check(&context(&target, Some(&seen))).len(), 1);
    }
}
