"""Send log records or spans described in a JSON file with the OpenTelemetry Python SDK.

Used by tests/retention_otlp.rs to drive `caviard serve` with real OTLP exporters and
several resources (service, Kubernetes namespace, pod labels), severities and bodies.

The spec is a list of groups; each group becomes one SDK provider (one OTLP resource):

    [{"resource": {"service.name": "shop", "k8s.namespace.name": "security"},
      "records": [{"severity": "DEBUG", "body": "text", "attributes": {"case": "a"}}]}]

For --signal traces each record becomes a span named after its body.

Exit status: 0 when every export call succeeded, 1 otherwise, 2 on bad arguments.
"""

import argparse
import json
import sys

from opentelemetry.sdk.resources import Resource

SEVERITIES = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}


def log_exporter(args):
    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=args.endpoint, insecure=True, timeout=30)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=args.endpoint.rstrip("/") + "/v1/logs", timeout=30)


def span_exporter(args):
    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=args.endpoint, insecure=True, timeout=30)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=args.endpoint.rstrip("/") + "/v1/traces", timeout=30)


def send_logs(args, groups):
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor

    failed = 0
    for group in groups:
        exporter = log_exporter(args)
        results = []
        original = exporter.export

        def export(batch, original=original, results=results):
            r = original(batch)
            results.append(r)
            return r

        exporter.export = export
        provider = LoggerProvider(resource=Resource.create(group["resource"]))
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        logger = provider.get_logger("caviard.retention.test", "1.0")
        for rec in group["records"]:
            sev = rec.get("severity", "INFO")
            logger.emit(
                severity_number=SeverityNumber(SEVERITIES[sev]),
                severity_text=sev,
                body=rec.get("body", ""),
                attributes=rec.get("attributes", {}),
            )
        provider.force_flush()
        provider.shutdown()
        failed += sum(1 for r in results if r != LogRecordExportResult.SUCCESS)
    return failed


def send_traces(args, groups):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

    failed = 0
    for group in groups:
        exporter = span_exporter(args)
        results = []
        original = exporter.export

        def export(batch, original=original, results=results):
            r = original(batch)
            results.append(r)
            return r

        exporter.export = export
        provider = TracerProvider(resource=Resource.create(group["resource"]))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("caviard.retention.test", "1.0")
        for rec in group["records"]:
            with tracer.start_as_current_span(rec.get("body", "span"), attributes=rec.get("attributes", {})):
                pass
        provider.force_flush()
        provider.shutdown()
        failed += sum(1 for r in results if r != SpanExportResult.SUCCESS)
    return failed


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--protocol", choices=["grpc", "http"], required=True)
    p.add_argument("--signal", choices=["logs", "traces"], required=True)
    p.add_argument("--spec", required=True, help="JSON file describing the records")
    args = p.parse_args()
    with open(args.spec) as f:
        groups = json.load(f)
    failed = send_logs(args, groups) if args.signal == "logs" else send_traces(args, groups)
    if failed:
        print(f"send_records: {failed} export calls failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
