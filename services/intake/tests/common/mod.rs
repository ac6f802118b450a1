//! What the intake tests share: the gateway as they run it (on a free
//! port, with the API keys of `keys_path`, as its own broker user, over
//! the environment's ClickHouse database), and the tools no one here wrote
//! (`tests/interop/intake_tools.py`).

use std::net::SocketAddr;
use std::path::Path;

use cisp_testkit::{python, repo_root, TestEnv};

/// `tests/interop/intake_tools.py ARGS` in the interop Python environment.
pub fn tools(args: &[&str]) -> std::process::Output {
    std::process::Command::new(python())
        .arg(repo_root().join("tests/interop/intake_tools.py"))
        .args(args)
        .output()
        .expect("python runs")
}

pub struct RunningGateway {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningGateway {
    pub async fn start(env: &TestEnv, keys_path: &Path) -> RunningGateway {
        // As the gateway connects: its own broker user, the stack's password.
        let client = env
            .config
            .kafka
            .client_as_user("cisp-intake", "cisp-intake", None)
            .unwrap();
        let registry = cisp_model::Registry::load(&env.config.registry_path).unwrap();
        let gw = cisp_intake::gateway::Gateway::new(
            cisp_intake::Intake {
                registry: std::sync::Arc::new(registry),
                limits: env.config.limits.clone(),
            },
            cisp_intake::keys::Keys::load(keys_path).unwrap(),
            cisp_intake::publish::Publisher::new(client.clone(), env.prefix()).unwrap(),
            client,
            env.prefix(),
        )
        .unwrap()
        .with_store(
            env.config.clickhouse.client(),
            &env.config.clickhouse.database,
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(cisp_intake::gateway::serve(
            gw,
            "127.0.0.1:0".parse().unwrap(),
            tx,
            async {
                let _ = stop_rx.await;
            },
        ));
        RunningGateway {
            addr: rx.await.unwrap(),
            stop,
            server,
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
    }
}
