"""status.sink and SinkHealthy from the pods' reports of their webhook."""

from __future__ import annotations

from typing import Any

from classroom_operator.rollout.pod_reports import parse_report
from classroom_operator.rollout.sink_health import failing_since, sink_health


def _report(**sink: Any) -> Any:
    spool = {"bytes": 1000, "maxBytes": 1 << 28, "full": False, "lostEvents": 0,
             "expiredEvents": 0, **sink.pop("spool", {})}
    return parse_report({"ready": True, "fingerprint": "a" * 16, "classrooms": [],
                         "sink": {"configured": True, "delivered": 10, "failures": 0,
                                  "rejected": 0, "lastError": None, "spool": spool, **sink}})


def test_no_reports_is_unknown() -> None:
    fields, condition = sink_health({"p-0": "GET /v1/status timed out after 2s"})
    assert (condition.status, condition.reason) == ("Unknown", "NoReports")
    assert fields["podsReporting"] == 0 and fields["lastError"] == ""


def test_pods_without_a_webhook_do_not_report_one() -> None:
    _, condition = sink_health({"p-0": _report(configured=False)})
    assert condition.status == "Unknown"


def test_a_down_webhook_with_an_old_backlog_is_failing() -> None:
    down = _report(failures=12, lastError="ClientConnectorError: Cannot connect to host "
                   "https://user:secret@hooks.example.org:443", oldestUndeliveredSeconds=75.3,
                   spool={"bytes": 5000})
    fields, condition = sink_health({"p-0": down, "p-1": _report()})
    assert (condition.status, condition.reason) == ("False", "SinkFailing")
    assert "p-0: ClientConnectorError" in condition.message and "75s" in condition.message
    assert fields == {"podsReporting": 2, "podsFailing": 1,
                      "lastError": "ClientConnectorError: Cannot connect to host "
                                   "https://hooks.example.org:443",
                      "spoolBytes": 6000, "oldestUndeliveredSeconds": 75.3}
    assert "secret" not in condition.message


def test_a_retry_of_a_busy_moment_is_not_failing() -> None:
    fields, condition = sink_health({"p-0": _report(failures=1, lastError="HTTP 503",
                                                    oldestUndeliveredSeconds=3.0)})
    assert (condition.status, condition.reason) == ("True", "Delivering")
    assert fields["lastError"] == "HTTP 503" and fields["podsFailing"] == 0


def test_a_full_spool_is_failing_even_while_delivering() -> None:
    _, condition = sink_health({"p-0": _report(spool={"full": True, "lostEvents": 40})})
    assert condition.status == "False"
    assert "new events are being lost" in condition.message and "40 events" in condition.message


def test_a_long_error_is_trimmed_to_one_line() -> None:
    fields, _ = sink_health({"p-0": _report(failures=3, lastError="x\n" * 1000,
                                            oldestUndeliveredSeconds=100)})
    assert len(fields["lastError"]) <= 300 and "\n" not in fields["lastError"]


def test_a_pod_that_does_not_date_its_backlog_is_dated_by_how_long_it_has_failed() -> None:
    down = _report(failures=5, lastError="HTTP 503")  # no oldestUndeliveredSeconds
    since = failing_since({"p-0": down}, {}, now=1000.0)
    assert since == {"p-0": 1000.0}
    _, early = sink_health({"p-0": down}, since, now=1030.0)
    assert early.status == "True"
    since = failing_since({"p-0": down}, since, now=1061.0)
    fields, late = sink_health({"p-0": down}, since, now=1061.0)
    assert (late.status, late.reason) == ("False", "SinkFailing")
    assert fields["oldestUndeliveredSeconds"] == 61.0
    # Seen delivering: it starts again.
    assert failing_since({"p-0": _report()}, since, now=1070.0) == {}
