//! `empty-password` (`--active`): MySQL/MariaDB let `root` in with an empty
//! password over TCP.

use super::Context;
use crate::audit::probes::Observation;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::EmptyPassword { evidence } => Some(context.finding(
                RuleId::EmptyPassword,
                if context.reachable_from_network() { Severity::Critical } else { Severity::High },
                evidence.clone(),
                "`ALTER USER 'root'@'%' IDENTIFIED BY '<secret>';` (or `IDENTIFIED VIA unix_socket`), and remove `skip-grant-tables` if set".into(),
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
    fn empty_password_exposed_is_critical() {
        let target = target("0.0.0.0", 3306);
        let seen = outcome("mariadb", vec![Observation::EmptyPassword { evidence: "OK".into() }]);
        assert_eq!(check(&context(&target, Some(&seen)))[0].severity, Severity::Critical);
    }
}
