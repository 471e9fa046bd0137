#!/usr/bin/env python3
"""Send N log records or spans through the real OpenTelemetry Python SDK and its OTLP
exporters, with fixed ids and attributes, for tests/otlp_*.rs.

Every record carries PII in the places caviard must redact (log body, `user.email`,
`enduser.id`, span name, event name and attributes, a query string in `url.full`) and
non-PII values that must arrive unchanged (`http.status_code`, `seq`, `service.name`, ids).

Ids are deterministic so the Rust test can check them: record i has
trace id TRACE_BASE + i and span id SPAN_BASE + i (hex, see below).

Exit status: 0 when every export call returned SUCCESS after force_flush/shutdown,
1 when any failed (the exporters' own retries included), 2 on bad arguments.
"""

import argparse
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

TRACE_BASE = 0x5B8EFFF798038103D269B63300000000
SPAN_BASE = 0xEEE19B7E00000000

BODY = "payment failed for jean.dupont@example.fr card 4111 1111 1111 1111"
EMAIL = "a.b@example.com"
NAME = "Jean Dupont"


class Checked:
    """Wraps an SDK exporter and remembers whether any export call failed."""

    def __init__(self, inner, success):
        self.inner = inner
        self.success = success
        self.failed = 0
        self.exported = 0

    def export(self, batch):
        result = self.inner.export(batch)
        if result == self.success:
            self.exported += len(batch)
        else:
            self.failed += len(batch)
        return result

    def shutdown(self):
        return self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        flush = getattr(self.inner, "force_flush", None)
        return flush(timeout_millis) if flush else True

    def __getattr__(self, name):
        return getattr(self.inner, name)


def resource(run):
    return Resource.create({"service.name": "caviard-test", "caviard.test.run": run})


def send_logs(args):
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
    from opentelemetry._logs import SeverityNumber

    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression

        # https:// takes TLS, verified against OTEL_EXPORTER_OTLP_CERTIFICATE when set (and a
        # client certificate from OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE / _CLIENT_KEY).
        inner = OTLPLogExporter(endpoint=args.endpoint, insecure=not args.endpoint.startswith("https://"),
                                timeout=args.timeout,
                                compression=Compression.Gzip if args.gzip else None)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http import Compression

        inner = OTLPLogExporter(endpoint=args.endpoint.rstrip("/") + "/v1/logs", timeout=args.timeout,
                                compression=Compression.Gzip if args.gzip else Compression.NoCompression)
    exporter = Checked(inner, LogRecordExportResult.SUCCESS)
    provider = LoggerProvider(resource=resource(args.run))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=args.batch))
    logger = provider.get_logger("caviard.test", "1.0")
    for i in range(args.count):
        ctx = trace.set_span_in_context(NonRecordingSpan(SpanContext(
            trace_id=TRACE_BASE + i, span_id=SPAN_BASE + i, is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED))))
        logger.emit(
            timestamp=1_700_000_000_000_000_000 + i,
            context=ctx,
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            body=BODY,
            attributes={
                "user.email": EMAIL,
                "enduser.id": NAME,
                "http.status_code": 500,
                "seq": i,
                "caviard.test.run": args.run,
            },
        )
    provider.force_flush()
    provider.shutdown()
    return exporter


def fixed_ids():
    """Deterministic span and trace ids: the i-th span gets base + i."""
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class FixedIds(IdGenerator):
        def __init__(self):
            self.i = 0

        def generate_trace_id(self):
            return TRACE_BASE + self.i

        def generate_span_id(self):
            value = SPAN_BASE + self.i
            self.i += 1
            return value

        def is_trace_id_random(self):
            return False

    return FixedIds()


def send_traces(args):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression

        inner = OTLPSpanExporter(endpoint=args.endpoint, insecure=True, timeout=args.timeout,
                                 compression=Compression.Gzip if args.gzip else None)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http import Compression

        inner = OTLPSpanExporter(endpoint=args.endpoint.rstrip("/") + "/v1/traces", timeout=args.timeout,
                                 compression=Compression.Gzip if args.gzip else Compression.NoCompression)
    exporter = Checked(inner, SpanExportResult.SUCCESS)
    provider = TracerProvider(resource=resource(args.run), id_generator=fixed_ids())
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=args.batch))
    tracer = provider.get_tracer("caviard.test", "1.0")
    for i in range(args.count):
        # A root span per record: trace id and span id both come from FixedIds with the same i.
        with tracer.start_as_current_span(
            "charge jean.dupont@example.fr",
            context=trace.set_span_in_context(trace.INVALID_SPAN),
            kind=trace.SpanKind.SERVER,
            attributes={
                "user.email": EMAIL,
                "enduser.id": NAME,
                "http.status_code": 500,
                "url.full": "https://shop.example/checkout?email=jean.dupont%40example.fr&step=2",
                "seq": i,
                "caviard.test.run": args.run,
            },
        ) as span:
            span.add_event("receipt sent to jean.dupont@example.fr",
                           attributes={"card": "4111 1111 1111 1111", "retry": 1})
    provider.force_flush()
    provider.shutdown()
    return exporter


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT of caviard's receiver (https:// for TLS)")
    p.add_argument("--protocol", choices=["grpc", "http"], required=True)
    p.add_argument("--signal", choices=["logs", "traces"], required=True)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--batch", type=int, default=64, help="records per export request")
    p.add_argument("--gzip", action="store_true", help="compress requests")
    p.add_argument("--timeout", type=float, default=30, help="exporter timeout, retries included (s)")
    p.add_argument("--run", default="run", help="value of the caviard.test.run attribute")
    args = p.parse_args()

    exporter = send_logs(args) if args.signal == "logs" else send_traces(args)
    print(f"exported={exporter.exported} failed={exporter.failed}", flush=True)
    if exporter.failed or exporter.exported != args.count:
        print(f"send_otlp: export failed ({exporter.failed} failed, {exporter.exported}/{args.count} exported)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
