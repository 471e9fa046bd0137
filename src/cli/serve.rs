//! `caviard serve`: run the OTLP proxy.
//!
//! Precedence for every setting: command-line flag, then the config file, then (for the
//! upstream endpoint and protocol only) `OTEL_EXPORTER_OTLP_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_PROTOCOL`, then the built-in default. With no config file the built-in
//! policy runs; with no upstream at all, redacted records go to stdout as OTLP/JSON.

use crate::config::serve::{ServeConfig, UpstreamProtocol};
use crate::config::Config;
use crate::serve::{Listening, PolicyHandle, Processing, Tags};
use anyhow::{bail, Context};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

/// Flags of `caviard serve`; each overrides the config file.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// YAML configuration file: the `policy` section (same as `caviard redact`) and the
    /// `serve` section. See config/sidecar.yaml and config/gateway.yaml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address of the OTLP/gRPC receiver [default: 127.0.0.1:4317].
    #[arg(long, value_name = "ADDR")]
    pub otlp_grpc: Option<SocketAddr>,
    /// Address of the OTLP/HTTP receiver and health endpoints [default: 127.0.0.1:4318].
    #[arg(long, value_name = "ADDR")]
    pub otlp_http: Option<SocketAddr>,
    /// Upstream OTLP endpoint, e.g. http://collector:4317 [default: OTEL_EXPORTER_OTLP_ENDPOINT,
    /// else stdout].
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Upstream protocol: grpc, http/protobuf, splunk_hec or elasticsearch (the last two
    /// take logs only) [default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc].
    #[arg(long, value_name = "PROTOCOL", value_parser = parse_protocol)]
    pub upstream_protocol: Option<UpstreamProtocol>,
    /// Redaction worker threads [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
}

fn parse_protocol(s: &str) -> Result<UpstreamProtocol, String> {
    UpstreamProtocol::parse(s)
        .ok_or_else(|| format!("{s:?}: expected grpc, http/protobuf, splunk_hec or elasticsearch"))
}

/// Run the proxy until SIGTERM or SIGINT, then drain and return; or until stdout, where
/// records go with no upstream, is closed by its reader, then drain and fail. SIGHUP (and,
/// with `serve.config_watch_interval`, a changed file) reloads the policy (`reload.rs`).
pub fn run(args: ServeArgs, config: Config) -> anyhow::Result<()> {
    init_logging();
    // The rules compile on as many threads as the workers will use (start-up, and readiness
    // of a new sidecar, is mostly that).
    let compile_threads = args.threads.or(config.serve.worker_threads).map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n.get(),
    );
    let redactor = super::build_redactor(&config, compile_threads)?;
    let tags = build_tags(&config, &redactor)?;
    let watch_interval = config.serve.config_watch_interval.map(|d| d.0);
    let serve = resolve(&args, config.serve, |k| std::env::var(k).ok())?;
    let threads = serve.worker_threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n.get(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("caviard-io")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let policy = PolicyHandle::new(Processing::RedactAndTag(Arc::new(redactor), Arc::new(tags)));
    let reloader = args
        .config
        .as_deref()
        .map(|p| super::reload::Reloader::new(p, policy.clone()));
    let hangups = {
        let _inside = runtime.enter();
        super::reload::hangups()
    };
    runtime.spawn(super::reload::watch(reloader, hangups, watch_interval));
    // A drain that ran out of time has already been logged with its count; the shutdown
    // itself was orderly, so the exit status stays 0 as orchestrators expect. A closed stdout
    // (no upstream) is a failure, unlike for the other subcommands (see `cli::run`): records
    // clients were told are safe can no longer be written, so it ends in an error (status 2)
    // and a supervisor restarts the process.
    runtime
        .block_on(crate::serve::run_reloadable(
            serve,
            policy,
            shutdown_signal(),
            announce,
        ))
        .context("caviard serve")?;
    Ok(())
}

/// The retention policy and redaction summary of the config; every problem in one error.
pub(super) fn build_tags(
    config: &Config,
    redactor: &crate::engine::Redactor,
) -> anyhow::Result<Tags> {
    let (policy, audit) = super::retention_and_audit(config, redactor)?;
    Ok(Tags::new(policy.map(Arc::new), audit))
}

/// Apply flags, then environment defaults, and validate: every problem in one error.
fn resolve(
    args: &ServeArgs,
    mut serve: ServeConfig,
    var: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<ServeConfig> {
    if let Some(a) = args.otlp_grpc {
        serve.otlp_grpc.listen = a.to_string();
    }
    if let Some(a) = args.otlp_http {
        serve.otlp_http.listen = a.to_string();
    }
    if let Some(u) = &args.upstream {
        serve.upstream.endpoint = Some(u.clone());
    }
    if let Some(p) = args.upstream_protocol {
        serve.upstream.protocol = Some(p);
    }
    if let Some(t) = args.threads {
        serve.worker_threads = Some(t);
    }
    let mut problems = serve.apply_otel_env(var);
    problems.extend(serve.validate());
    if !problems.is_empty() {
        bail!("invalid configuration:\n  {}", problems.join("\n  "));
    }
    Ok(serve)
}

/// Print where the receivers listen, on stderr, in a stable form scripts and tests can read.
fn announce(l: Listening) {
    if let Some(a) = l.otlp_grpc {
        eprintln!("caviard serve: otlp_grpc listening on {a}");
    }
    if let Some(a) = l.otlp_http {
        eprintln!("caviard serve: otlp_http listening on {a}");
    }
    if let Some(a) = l.syslog_udp {
        eprintln!("caviard serve: syslog_udp listening on {a}");
    }
    if let Some(a) = l.syslog_tcp {
        eprintln!("caviard serve: syslog_tcp listening on {a}");
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Resolve on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("Signal received.");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn args(argv: &[&str]) -> ServeArgs {
        Cli::try_parse_from(std::iter::once("serve").chain(argv.iter().copied()))
            .unwrap()
            .serve
    }

    #[test]
    fn flags_override_file_and_env() {
        let file: ServeConfig =
            serde_yaml_ng::from_str("upstream: {endpoint: 'http://file:4317', protocol: grpc}")
                .unwrap();
        let env = |k: &str| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://env:4318".to_string()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("http/protobuf".to_string()),
            _ => None,
        };
        let a = args(&[
            "--upstream",
            "http://flag:4318",
            "--upstream-protocol",
            "http/protobuf",
            "--otlp-grpc",
            "127.0.0.1:5317",
        ]);
        let s = resolve(&a, file.clone(), env).unwrap();
        assert_eq!(s.upstream.endpoint.as_deref(), Some("http://flag:4318"));
        assert_eq!(s.protocol(), UpstreamProtocol::HttpProtobuf);
        assert_eq!(s.otlp_grpc.listen, "127.0.0.1:5317");

        let s = resolve(&args(&[]), file, env).unwrap();
        assert_eq!(s.upstream.endpoint.as_deref(), Some("http://file:4317"));
        assert_eq!(s.protocol(), UpstreamProtocol::Grpc);

        let s = resolve(&args(&[]), ServeConfig::default(), env).unwrap();
        assert_eq!(s.upstream.endpoint.as_deref(), Some("http://env:4318"));
        assert_eq!(s.protocol(), UpstreamProtocol::HttpProtobuf);
    }

    #[test]
    fn bad_values_are_named() {
        assert!(Cli::try_parse_from(["serve", "--upstream-protocol", "http/json"]).is_err());
        assert!(Cli::try_parse_from(["serve", "--otlp-grpc", "localhost"]).is_err());
        let err = resolve(
            &args(&["--upstream", "collector:4317"]),
            ServeConfig::default(),
            |_| None,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("serve.upstream.endpoint: not a URL"),
            "{err}"
        );
    }
}
