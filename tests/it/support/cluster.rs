//! A private PostgreSQL server for tests that stop and restart the database
//! (the shared test server must stay up for the other tests).

use std::path::PathBuf;
use std::process::Command;

use super::wait_for;

pub struct PgCluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

/// A new directory for a cluster (the postgres user's when we are root),
/// and a free port.
fn place() -> (PathBuf, u16) {
    let dir = std::env::temp_dir().join(format!("eldercare-pg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("cluster dir");
    if is_root() {
        let ok = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status().map(|s| s.success());
        assert!(matches!(ok, Ok(true)), "chown the cluster dir");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    (dir, port)
}

impl PgCluster {
    /// A PostgreSQL program, run as the postgres user when we are root
    /// (the server refuses to run as root).
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let bin = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            Command::new(bin)
        };
        cmd.args(args);
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) {
        let status = self
            .command(program, args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(status.success(), "{program} {args:?} failed");
    }

    pub async fn start() -> PgCluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (scripts/services.sh)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .max()
            .expect("a PostgreSQL version");
        let (dir, port) = place();
        let cluster = PgCluster { port, dir, bin };
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        let mut conf =
            format!("listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{data}'\nfsync = off\n");
        // As scripts/services.sh does: preload TimescaleDB where its library
        // is installed, so these servers take the same path as the shared one.
        if cluster.bin.parent().is_some_and(|v| v.join("lib/timescaledb.so").exists()) {
            conf.push_str("shared_preload_libraries = 'timescaledb'\n");
        }
        let path = cluster.dir.join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&path, text).expect("write postgresql.conf");
        cluster.start_server().await;
        cluster
    }

    /// A streaming replica of `primary` (a base backup with its standby
    /// settings), started on a port of its own.
    pub async fn replica_of(primary: &PgCluster) -> PgCluster {
        let (dir, port) = place();
        let replica = PgCluster { port, dir, bin: primary.bin.clone() };
        let data = replica.data();
        let from = primary.port.to_string();
        replica.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &from,
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        let path = replica.dir.join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("postgresql.conf");
        text.push_str(&format!("port = {port}\nunix_socket_directories = '{data}'\nhot_standby = on\n"));
        std::fs::write(&path, text).expect("write postgresql.conf");
        replica.start_server().await;
        replica
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub async fn start_server(&self) {
        let log = self.dir.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "start"]);
        let port = self.port;
        wait_for("the private PostgreSQL", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
        })
        .await;
    }

    pub fn stop_server(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
