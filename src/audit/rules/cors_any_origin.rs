//! `cors-any-origin`: the service sent `Access-Control-Allow-Origin: *` or
//! echoed a foreign origin, so every web page may read its responses; with
//! `Access-Control-Allow-Credentials: true` the browser's cookies go along.

use super::Context;
use crate::audit::probes::Observation;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::Cors { evidence, credentials } => Some(context.finding(
                RuleId::CorsAnyOrigin,
                if *credentials { Severity::High } else { Severity::Medium },
                evidence.clone(),
                "send Access-Control-Allow-Origin only for known origins (e.g. `http://localhost:3000`), never `*` or the request's own Origin".into(),
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
    fn credentials_raise_severity() {
        let target = target("127.0.0.1", 3000);
        let seen =
            outcome("http", vec![Observation::Cors { evidence: "*".into(), credentials: true }]);
        assert_eq!(check(&context(&target, Some(&seen)))[0].severity, Severity::High);
    }
}
