//! The deployment files under `docker/` agree with caviard itself. Each Kubernetes example
//! (a kustomize directory under `docker/k8s/`) ships a caviard config in a ConfigMap; that
//! config must pass `caviard check`, and everything the manifests say about the process must
//! follow from it: the args load the mounted file, container ports are exactly the listeners
//! reachable from outside the pod, probes hit the health endpoints on the HTTP listener,
//! Service ports and the Prometheus annotation point at listeners, the grace period outlasts
//! the drain, the memory limit covers the bounded queue. Nothing here needs a cluster, a
//! network or docker; `kubectl kustomize` is used when installed, to check the rendering a
//! user applies (it is skipped, saying so, where kubectl is missing).
#![cfg(feature = "serve")]

use caviard::config::Config;
use serde::Deserialize;
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: u64 = 1 << 20;

/// What a caviard process needs besides its queue and the request being decoded: the proxy
/// bench's peak RSS is 17-23MiB under load (README, Proxy), so this leaves room to spare.
const PROCESS_HEADROOM: u64 = 48 * MIB;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn k8s_dir(name: &str) -> PathBuf {
    root().join("docker/k8s").join(name)
}

fn docs(text: &str, origin: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{origin}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {v:?}"))
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map_or(&[], |s| s.as_slice())
}

/// The objects `kubectl apply -k DIR` would create, without kubectl: the files under
/// `resources` and a ConfigMap per `configMapGenerator` entry (unhashed names; the references
/// to them are then left as written, which is what kustomize rewrites consistently). Fails if
/// a YAML file in the directory is neither the kustomization, a resource nor a generator input,
/// so a manifest cannot sit there unapplied.
fn render_local(dir: &Path) -> Vec<Value> {
    let kustomization = &docs(&read(&dir.join("kustomization.yaml")), "kustomization")[0];
    let mut used = BTreeSet::from(["kustomization.yaml".to_string()]);
    let mut out = Vec::new();
    for r in seq(&kustomization["resources"]) {
        let file = str_of(r, "resources[]");
        used.insert(file.to_string());
        out.extend(docs(&read(&dir.join(file)), file));
    }
    for g in seq(&kustomization["configMapGenerator"]) {
        let mut data = serde_yaml_ng::Mapping::new();
        for f in seq(&g["files"]) {
            let f = str_of(f, "configMapGenerator[].files[]");
            let (key, file) = f.split_once('=').unwrap_or((f, f));
            used.insert(file.to_string());
            data.insert(key.into(), read(&dir.join(file)).into());
        }
        let mut cm = serde_yaml_ng::Mapping::new();
        cm.insert("apiVersion".into(), "v1".into());
        cm.insert("kind".into(), "ConfigMap".into());
        let mut meta = serde_yaml_ng::Mapping::new();
        meta.insert("name".into(), g["name"].clone());
        cm.insert("metadata".into(), meta.into());
        cm.insert("data".into(), data.into());
        out.push(cm.into());
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            assert!(
                used.contains(&name),
                "{}: {name} is not listed in kustomization.yaml",
                dir.display()
            );
        }
    }
    for o in &out {
        assert!(
            o["apiVersion"].is_string()
                && o["kind"].is_string()
                && o["metadata"]["name"].is_string(),
            "{}: an object without apiVersion, kind or metadata.name: {o:?}",
            dir.display()
        );
    }
    out
}

/// `kubectl kustomize DIR`, or None (with a message) when kubectl is not installed.
fn render_kubectl(dir: &Path) -> Option<Vec<Value>> {
    let out = match Command::new("kubectl").arg("kustomize").arg(dir).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIP: kubectl not found; {} checked without kustomize's rendering",
                dir.display()
            );
            return None;
        }
        Err(e) => panic!("running kubectl: {e}"),
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(docs(
        &String::from_utf8(out.stdout).unwrap(),
        "kubectl kustomize",
    ))
}

/// A listener the config opens: port, protocol as Kubernetes names it, whether only the
/// pod itself can reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Listener {
    port: u16,
    protocol: &'static str,
    loopback: bool,
}

fn listener(addr: &str, protocol: &'static str) -> Listener {
    let a: SocketAddr = addr.parse().expect("caviard check accepted it");
    Listener {
        port: a.port(),
        protocol,
        loopback: a.ip().is_loopback(),
    }
}

/// Every listener of `caviard serve` with this config, the HTTP one (health, metrics) first.
fn listeners(config: &Config) -> Vec<Listener> {
    let s = &config.serve;
    // The HTTP address serves /healthz, /readyz and /metrics even with `enabled: false`.
    let mut l = vec![listener(&s.otlp_http.listen, "TCP")];
    if s.otlp_grpc.enabled {
        l.push(listener(&s.otlp_grpc.listen, "TCP"));
    }
    if let Some(a) = &s.syslog.tcp_listen {
        l.push(listener(a, "TCP"));
    }
    if let Some(a) = &s.syslog.udp_listen {
        l.push(listener(a, "UDP"));
    }
    l
}

/// A Kubernetes memory quantity in bytes (`128Mi`, `1Gi`, `500M`, `1048576`).
fn quantity_bytes(q: &str) -> u64 {
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().expect("integer quantity") * factor;
        }
    }
    q.parse().expect("integer quantity")
}

/// A container's port named or numbered by `port` (a probe's or a Service's targetPort).
fn container_port(container: &Value, port: &Value) -> Option<(u16, String)> {
    seq(&container["ports"]).iter().find_map(|p| {
        let number = p["containerPort"].as_u64()? as u16;
        let matches = match port {
            Value::String(name) => p["name"].as_str() == Some(name),
            Value::Number(n) => n.as_u64() == Some(number as u64),
            _ => false,
        };
        matches.then(|| (number, p["protocol"].as_str().unwrap_or("TCP").to_string()))
    })
}

/// The volume of `pod` mounted in `container` above `path`, and `path` relative to the mount.
fn mounted<'a>(pod: &'a Value, container: &Value, path: &str) -> Option<(&'a Value, String)> {
    seq(&container["volumeMounts"]).iter().find_map(|m| {
        let rest = path
            .strip_prefix(m["mountPath"].as_str()?)?
            .strip_prefix('/')?;
        let volume = seq(&pod["volumes"])
            .iter()
            .find(|v| v["name"] == m["name"])?;
        Some((volume, rest.to_string()))
    })
}

/// The key of a ConfigMap or Secret volume that appears as `file` in the mount.
fn volume_key(source: &Value, file: &str) -> Option<String> {
    match source["items"].as_sequence() {
        Some(items) => items
            .iter()
            .find(|i| i["path"].as_str() == Some(file))
            .and_then(|i| i["key"].as_str().map(str::to_string)),
        None => Some(file.to_string()),
    }
}

/// Run every check on one rendering of a kustomize directory; returns the problems found
/// and how many caviard containers were checked.
fn check_rendering(objects: &[Value], origin: &str) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut checked = 0;
    let of_kind = |kind: &'static str| {
        objects
            .iter()
            .filter(move |o| o["kind"].as_str() == Some(kind))
    };
    let config_maps: BTreeMap<&str, &Value> = of_kind("ConfigMap")
        .map(|o| (o["metadata"]["name"].as_str().unwrap(), &o["data"]))
        .collect();
    for deploy in of_kind("Deployment") {
        let dname = deploy["metadata"]["name"].as_str().unwrap();
        let template = &deploy["spec"]["template"];
        let pod = &template["spec"];
        let labels = &template["metadata"]["labels"];
        let containers = seq(&pod["initContainers"])
            .iter()
            .chain(seq(&pod["containers"]))
            .filter(|c| c["name"].as_str() == Some("caviard"));
        for c in containers {
            checked += 1;
            let at = format!("{origin}: Deployment {dname}, container caviard");
            let mut problem = |p: String| problems.push(format!("{at}: {p}"));

            // The args load the mounted config and nothing overrides it: a flag such as
            // --otlp-http would make every check below about a config that does not run.
            let args: Vec<&str> = seq(&c["args"]).iter().filter_map(Value::as_str).collect();
            let [serve, flag, path] = args[..] else {
                problem(format!("args {args:?}: expected [serve, --config, PATH]"));
                continue;
            };
            if serve != "serve" || flag != "--config" {
                problem(format!("args {args:?}: expected [serve, --config, PATH]"));
                continue;
            }
            let Some((volume, file)) = mounted(pod, c, path) else {
                problem(format!("--config {path}: no volume is mounted above it"));
                continue;
            };
            let cm = &volume["configMap"];
            let Some(text) = cm["name"]
                .as_str()
                .and_then(|n| config_maps.get(n))
                .zip(volume_key(cm, &file))
                .and_then(|(data, key)| data[key.as_str()].as_str())
            else {
                problem(format!(
                    "--config {path}: not a key of a ConfigMap in this directory (volume {:?})",
                    volume["name"]
                ));
                continue;
            };
            let config = match Config::parse(text) {
                Ok(c) => c,
                Err(e) => {
                    problem(format!("{path}: {e}"));
                    continue;
                }
            };

            // `caviard check` on the config as shipped; only a key file's path is pointed at
            // a test key, after checking that a Secret is mounted there.
            let tmp = tempfile::tempdir().unwrap();
            let mut text = text.to_string();
            let mut env = Vec::new();
            if let Some(p) = &config.policy.pseudonym {
                if let Some(key_file) = &p.key_file {
                    let key_file = key_file.to_str().unwrap();
                    match mounted(pod, c, key_file) {
                        Some((v, f)) if volume_key(&v["secret"], &f).is_some() => {}
                        _ => problem(format!(
                            "policy.pseudonym.key_file {key_file}: no Secret volume provides it"
                        )),
                    }
                    let test_key = tmp.path().join("hmac-key");
                    std::fs::write(&test_key, "0123456789abcdef0123456789abcdef\n").unwrap();
                    assert_eq!(text.matches(key_file).count(), 1, "{at}: {key_file}");
                    text = text.replace(key_file, test_key.to_str().unwrap());
                }
                if let Some(var) = &p.key_env {
                    let from_secret = seq(&c["env"]).iter().any(|e| {
                        e["name"].as_str() == Some(var)
                            && e["valueFrom"]["secretKeyRef"].is_mapping()
                    });
                    if !from_secret {
                        problem(format!(
                            "policy.pseudonym.key_env {var}: not set from a secretKeyRef"
                        ));
                    }
                    env.push((var.clone(), "0123456789abcdef0123456789abcdef".to_string()));
                }
            }
            let config_path = tmp.path().join("caviard.yaml");
            std::fs::write(&config_path, &text).unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_caviard"))
                .args(["check", "--config"])
                .arg(&config_path)
                .envs(env)
                .output()
                .unwrap();
            if !out.status.success() {
                problem(format!(
                    "caviard check: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }

            // Container ports: exactly the listeners the pod network can reach. A declared
            // loopback port would promise what the kubelet and Services cannot use.
            let listeners = listeners(&config);
            let http = listeners[0];
            let expected: BTreeSet<(u16, &str)> = listeners
                .iter()
                .filter(|l| !l.loopback)
                .map(|l| (l.port, l.protocol))
                .collect();
            let declared: BTreeSet<(u16, &str)> = seq(&c["ports"])
                .iter()
                .map(|p| {
                    (
                        p["containerPort"].as_u64().unwrap_or(0) as u16,
                        p["protocol"].as_str().unwrap_or("TCP"),
                    )
                })
                .collect();
            if declared != expected {
                problem(format!(
                    "container ports {declared:?}, but the config's non-loopback listeners are {expected:?}"
                ));
            }

            // Probes: the kubelet connects to the pod IP, so the HTTP listener must not be
            // loopback-only, and each probe must name it.
            if http.loopback {
                problem(format!(
                    "serve.otlp_http.listen is loopback: the kubelet cannot reach /healthz or /readyz on port {}",
                    http.port
                ));
            }
            for (probe, path, required) in [
                ("readinessProbe", "/readyz", true),
                ("livenessProbe", "/healthz", true),
                ("startupProbe", "/readyz", false),
            ] {
                let get = &c[probe]["httpGet"];
                if get.is_null() {
                    if required {
                        problem(format!("no {probe}.httpGet"));
                    }
                    continue;
                }
                if get["path"].as_str() != Some(path) {
                    problem(format!(
                        "{probe}.httpGet.path {:?}, expected {path}",
                        get["path"]
                    ));
                }
                // The health endpoints share the HTTP listener's TLS.
                let scheme = get["scheme"].as_str().unwrap_or("HTTP");
                match &config.serve.otlp_http.tls {
                    None if scheme != "HTTP" => problem(format!(
                        "{probe}.httpGet.scheme {scheme}, but serve.otlp_http has no tls"
                    )),
                    Some(_) if scheme != "HTTPS" => problem(format!(
                        "{probe}.httpGet.scheme {scheme}, but serve.otlp_http.tls is set: the kubelet must probe over HTTPS"
                    )),
                    Some(t) if t.client_ca_file.is_some() => problem(format!(
                        "{probe}: serve.otlp_http.tls.client_ca_file requires client certificates, which the kubelet does not present"
                    )),
                    _ => {}
                }
                match container_port(c, &get["port"]) {
                    Some((port, _)) if port == http.port => {}
                    other => problem(format!(
                        "{probe}.httpGet.port {:?} is {other:?}, not serve.otlp_http.listen's port {}",
                        get["port"], http.port
                    )),
                }
            }
            let annotations = &template["metadata"]["annotations"];
            if let Some(port) = annotations["prometheus.io/port"].as_str() {
                if port != http.port.to_string() {
                    problem(format!(
                        "prometheus.io/port {port}, but /metrics is on port {}",
                        http.port
                    ));
                }
                if annotations["prometheus.io/path"].as_str() != Some("/metrics") {
                    problem("prometheus.io/path is not /metrics".into());
                }
            }

            // SIGKILL must not cut the drain short: the grace period counts from the preStop
            // hook's start, and SIGTERM only comes after the hook.
            let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
            let pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
                .as_u64()
                .unwrap_or(0);
            let drain = config.serve.shutdown.drain_timeout.0.as_secs_f64();
            if grace as f64 <= pre_stop as f64 + drain {
                problem(format!(
                    "terminationGracePeriodSeconds {grace} does not exceed preStop sleep {pre_stop}s + serve.shutdown.drain_timeout {drain}s"
                ));
            }

            // Memory: the queue's byte bound, one request being decoded, the process.
            let need = config.serve.queue.max_bytes.0
                + config.serve.limits.max_decompressed_bytes.0
                + PROCESS_HEADROOM;
            match c["resources"]["limits"]["memory"].as_str() {
                Some(q) if quantity_bytes(q) >= need => {}
                other => problem(format!(
                    "resources.limits.memory {other:?} is below queue.max_bytes + limits.max_decompressed_bytes + {}MiB = {}MiB",
                    PROCESS_HEADROOM / MIB,
                    need / MIB
                )),
            }

            // The hardening the image is built for (uid 65532, nothing written to disk).
            let sc = &c["securityContext"];
            let pod_sc = &pod["securityContext"];
            if sc["runAsNonRoot"]
                .as_bool()
                .or(pod_sc["runAsNonRoot"].as_bool())
                != Some(true)
            {
                problem("runAsNonRoot is not true".into());
            }
            if sc["readOnlyRootFilesystem"].as_bool() != Some(true)
                || sc["allowPrivilegeEscalation"].as_bool() != Some(false)
                || !seq(&sc["capabilities"]["drop"]).iter().any(|d| d == "ALL")
            {
                problem(
                    "securityContext needs readOnlyRootFilesystem, no privilege escalation, capabilities drop [ALL]"
                        .into(),
                );
            }

            // Services in front of these pods: each port is a listener, on the same number
            // (clients use the standard ports), and every reachable listener has a port.
            let selects = |selector: &Value| {
                selector.as_mapping().is_some_and(|m| {
                    !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v))
                })
            };
            for svc in of_kind("Service").filter(|s| selects(&s["spec"]["selector"])) {
                let sname = svc["metadata"]["name"].as_str().unwrap();
                let mut served = BTreeSet::new();
                for p in seq(&svc["spec"]["ports"]) {
                    let target = match &p["targetPort"] {
                        Value::Null => p["port"].clone(),
                        t => t.clone(),
                    };
                    let protocol = p["protocol"].as_str().unwrap_or("TCP");
                    match container_port(c, &target) {
                        Some((n, proto))
                            if p["port"].as_u64() == Some(n as u64)
                                && proto == protocol
                                && expected.contains(&(n, protocol)) =>
                        {
                            served.insert((n, protocol));
                        }
                        other => problem(format!(
                            "Service {sname} port {:?} (targetPort {target:?}, {protocol}) does not match a listener: container port {other:?}, listeners {expected:?}",
                            p["port"]
                        )),
                    }
                }
                if served != expected {
                    problem(format!(
                        "Service {sname} exposes {served:?}, the config listens on {expected:?}"
                    ));
                }
            }
            for pdb in of_kind("PodDisruptionBudget") {
                if !selects(&pdb["spec"]["selector"]["matchLabels"]) {
                    problem(format!(
                        "PodDisruptionBudget {:?} does not select these pods",
                        pdb["metadata"]["name"]
                    ));
                }
            }
            for hpa in of_kind("HorizontalPodAutoscaler") {
                if hpa["spec"]["scaleTargetRef"]["name"].as_str() != Some(dname) {
                    problem(format!(
                        "HorizontalPodAutoscaler {:?} does not scale this Deployment",
                        hpa["metadata"]["name"]
                    ));
                }
            }
        }
    }
    (problems, checked)
}

fn assert_agrees(dir: &str) {
    let path = k8s_dir(dir);
    let (problems, checked) = check_rendering(&render_local(&path), dir);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert_eq!(checked, 1, "{dir}: expected one caviard container");
}

#[test]
fn sidecar_manifests_agree_with_their_config() {
    assert_agrees("sidecar");
}

#[test]
fn gateway_manifests_agree_with_their_config() {
    assert_agrees("gateway");
}

/// The same checks on what `kubectl apply -k` would send: hashed ConfigMap names, images
/// replaced, and kustomize's own validation of the kustomization files.
#[test]
fn kustomize_rendering_agrees_with_the_config() {
    for dir in ["sidecar", "gateway"] {
        let Some(objects) = render_kubectl(&k8s_dir(dir)) else {
            return;
        };
        let (problems, checked) = check_rendering(&objects, &format!("kubectl kustomize {dir}"));
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
        assert_eq!(checked, 1, "{dir}: expected one caviard container");
    }
}

/// Dotted paths where two YAML trees differ (comments are not part of the tree).
fn differences(a: &Value, b: &Value, path: &str, out: &mut BTreeSet<String>) {
    match (a.as_mapping(), b.as_mapping()) {
        (Some(ma), Some(mb)) => {
            let keys: BTreeSet<String> = ma
                .keys()
                .chain(mb.keys())
                .map(|k| k.as_str().unwrap_or("?").to_string())
                .collect();
            for k in keys {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                differences(&a[k.as_str()], &b[k.as_str()], &sub, out);
            }
        }
        _ if a != b => {
            out.insert(path.to_string());
        }
        _ => {}
    }
}

/// The ConfigMaps' configs are the documented examples, changed only where a pod needs it,
/// so they do not drift apart as the examples evolve.
#[test]
fn k8s_configs_are_the_documented_examples() {
    for (dir, example, allowed) in [
        ("gateway", "gateway.yaml", &[][..]),
        (
            "sidecar",
            "sidecar.yaml",
            &[
                "policy.actions.person_id",
                "policy.pseudonym",
                "serve.otlp_http.listen",
            ][..],
        ),
    ] {
        let k8s = &docs(&read(&k8s_dir(dir).join("caviard.yaml")), dir)[0];
        let ex = &docs(&read(&root().join("config").join(example)), example)[0];
        let mut diff = BTreeSet::new();
        differences(ex, k8s, "", &mut diff);
        let allowed: BTreeSet<String> = allowed.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            diff, allowed,
            "docker/k8s/{dir}/caviard.yaml differs from config/{example} elsewhere than where a pod needs it"
        );
    }
}

/// The image is what the manifests assume: the uid they run as, the ports they declare,
/// the binary as entrypoint; and the build context keeps out the build outputs.
#[test]
fn dockerfile_matches_the_manifests() {
    let dockerfile = read(&root().join("docker/Dockerfile"));
    let instruction = |name: &str| -> Vec<String> {
        dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(|s| s.trim().to_string())
            .collect()
    };
    let exposed: BTreeSet<String> = instruction("EXPOSE")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .map(|p| {
            if p.contains('/') {
                p
            } else {
                format!("{p}/tcp")
            }
        })
        .collect();
    assert_eq!(instruction("USER"), ["65532:65532"]);
    assert_eq!(instruction("ENTRYPOINT"), [r#"["/usr/local/bin/caviard"]"#]);
    for dir in ["sidecar", "gateway"] {
        for o in render_local(&k8s_dir(dir)) {
            let pod = &o["spec"]["template"]["spec"];
            for c in seq(&pod["initContainers"])
                .iter()
                .chain(seq(&pod["containers"]))
            {
                if c["name"].as_str() != Some("caviard") {
                    continue;
                }
                let uid = c["securityContext"]["runAsUser"]
                    .as_u64()
                    .or(pod["securityContext"]["runAsUser"].as_u64());
                assert_eq!(uid, Some(65532), "{dir}: runAsUser");
                for p in seq(&c["ports"]) {
                    let port = format!(
                        "{}/{}",
                        p["containerPort"].as_u64().unwrap(),
                        p["protocol"].as_str().unwrap_or("TCP").to_lowercase()
                    );
                    assert!(
                        exposed.contains(&port),
                        "{dir}: {port} not in EXPOSE {exposed:?}"
                    );
                }
            }
        }
    }
    let ignore = read(&root().join(".dockerignore"));
    for pattern in ["target", "target-*", ".venv", ".git"] {
        assert!(
            ignore.lines().any(|l| l.trim() == pattern),
            ".dockerignore does not exclude {pattern}"
        );
    }
}
