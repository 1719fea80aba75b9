"""Metrics and traces of the calls callgate judges (issue 13, item 6).

    observer.py    the port the gate calls (`CallObserver`) and the mark one call carries
    metrics.py     the Prometheus families and their bounded labels
    tracing.py     one OpenTelemetry span per `tools/call`, continuing the client's trace
    recorder.py    `Telemetry`: the gate's observer over metrics and tracing, and the
                   wrappers that count store errors, held approvals and reloads
    exposition.py  `/metrics` as an ASGI app, the multiprocess directory, the pushgateway
    settings.py    what the operator asked for (flags, OTEL_* variables): no heavy imports
    assembly.py    builds a `Telemetry` from the settings and runs it beside the proxy

Nothing here is imported unless telemetry is switched on; the gate pays one `None` check
per call when it is off.
"""
