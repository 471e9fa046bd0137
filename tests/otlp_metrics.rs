//! Metrics through the proxy: data point and exemplar attributes are redacted, values,
//! timestamps, exemplar ids and the metric structure are not.
#![cfg(feature = "serve")]

mod otlp_util;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, number_data_point, Exemplar, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use otlp_util::*;
use std::time::Duration;

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn point_attrs(i: i64) -> Vec<KeyValue> {
    vec![
        kv("user.email", Value::StringValue("a.b@example.com".into())),
        kv("http.status_code", Value::IntValue(500)),
        kv("http.route", Value::StringValue("/pay/{id}".into())),
        kv("seq", Value::IntValue(i)),
    ]
}

fn request() -> ExportMetricsServiceRequest {
    let (trace_id, span_id) = fixture_ids(3);
    let exemplar = Exemplar {
        filtered_attributes: vec![kv(
            "client",
            Value::StringValue("jean.dupont@example.fr".into()),
        )],
        time_unix_nano: 5,
        span_id: span_id.clone(),
        trace_id: trace_id.clone(),
        value: Some(exemplar::Value::AsDouble(0.25)),
    };
    let sum = Metric {
        name: "payments.failed".into(),
        unit: "1".into(),
        data: Some(Data::Sum(Sum {
            data_points: (0..3)
                .map(|i| NumberDataPoint {
                    attributes: point_attrs(i),
                    time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                    value: Some(number_data_point::Value::AsInt(40 + i)),
                    exemplars: vec![exemplar.clone()],
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let histogram = Metric {
        name: "payments.latency".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: point_attrs(3),
                count: 4,
                bucket_counts: vec![1, 3],
                explicit_bounds: vec![0.5],
                exemplars: vec![exemplar],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    Value::StringValue("caviard-test".into()),
                )],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![sum, histogram],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn check(received: &ExportMetricsServiceRequest) {
    let debug = format!("{received:?}");
    for p in PII {
        assert!(!debug.contains(p), "{p:?} reached the upstream: {debug}");
    }
    let sent = request();
    let metrics = &received.resource_metrics[0].scope_metrics[0].metrics;
    let want = &sent.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 2);
    let (Some(Data::Sum(got)), Some(Data::Sum(exp))) = (&metrics[0].data, &want[0].data) else {
        panic!()
    };
    assert_eq!(metrics[0].name, "payments.failed");
    assert_eq!((got.is_monotonic, got.aggregation_temporality), (true, 2));
    for (g, e) in got.data_points.iter().zip(&exp.data_points) {
        assert_eq!((g.value, g.time_unix_nano), (e.value, e.time_unix_nano));
        assert_eq!(int_attr(&g.attributes, "http.status_code"), Some(500));
        assert_eq!(str_attr(&g.attributes, "http.route"), Some("/pay/{id}"));
        assert_eq!(g.exemplars[0].span_id, e.exemplars[0].span_id);
        assert_eq!(g.exemplars[0].trace_id, e.exemplars[0].trace_id);
        assert_eq!(g.exemplars[0].value, e.exemplars[0].value);
    }
    let Some(Data::Histogram(h)) = &metrics[1].data else {
        panic!()
    };
    assert_eq!(
        (h.data_points[0].count, &h.data_points[0].bucket_counts),
        (4, &vec![1, 3])
    );
}

#[test]
fn metrics_grpc_and_http_json() {
    let upstream = Upstream::start();
    let proxy = Proxy::start(&["--upstream", &upstream.grpc_url()], None, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut client = rt
        .block_on(MetricsServiceClient::connect(proxy.grpc_url()))
        .unwrap();
    let resp = rt.block_on(client.export(request())).unwrap().into_inner();
    assert!(resp.partial_success.is_none());

    let json = serde_json::to_vec(&request()).unwrap();
    let r = http_request(
        proxy.http,
        "POST",
        "/v1/metrics",
        &[("Content-Type", "application/json")],
        &json,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    upstream.wait_for(Duration::from_secs(10), "both metric requests", |r| {
        r.metrics
            .iter()
            .map(|m| m.resource_metrics.len())
            .sum::<usize>()
            == 2
    });
    let received = upstream.received();
    for m in &received.metrics {
        for rm in &m.resource_metrics {
            check(&ExportMetricsServiceRequest {
                resource_metrics: vec![rm.clone()],
            });
        }
    }
}
