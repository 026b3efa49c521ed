//! `docker-api`: the Docker Engine API answered over TCP without client
//! certificates. Whoever reaches it can start a privileged container that
//! mounts `/`: it is root on the host.

use super::Context;
use crate::audit::probes::Observation;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::DockerApi { evidence } => Some(context.finding(
                RuleId::DockerApi,
                if context.reachable_from_network() { Severity::Critical } else { Severity::High },
                evidence.clone(),
                format!(
                    "remove `-H tcp://…:{}` from dockerd (daemon.json \"hosts\"), or use `--tlsverify` with client certificates on 2376",
                    context.target.port
                ),
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
    fn exposed_docker_is_critical() {
        let target = target("0.0.0.0", 2375);
        let seen = outcome(
            "docker",
            vec![Observation::DockerApi { evidence: "GET /version → 200".into() }],
        );
        assert_eq!(check(&context(&target, Some(&seen)))[0].severity, Severity::Critical);
    }
}
