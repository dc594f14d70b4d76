"""The parser that finds metric and label names in the chart's PromQL: it must see what the
queries name, or the check against real /metrics pages proves nothing."""

from __future__ import annotations

from monitoring.queries import Query, names, unknown_names


def test_names_of_a_join_with_grouping_and_grafana_variables() -> None:
    metrics, labels = names(
        'histogram_quantile(0.99, sum by (namespace, model, le) (rate(classroom_stage_seconds_'
        'bucket{stage="label", namespace=~"$namespace"}[$__rate_interval]))) > on (namespace, '
        'model) max by (namespace, model) (classroom_operator_max_latency_seconds)')
    assert metrics == {"classroom_stage_seconds_bucket", "classroom_operator_max_latency_seconds"}
    assert labels == {"namespace", "model", "le", "stage"}


def test_names_ignore_functions_keywords_numbers_and_strings() -> None:
    metrics, labels = names('time() - max(a_metric{x="by (nothing) b_metric"}) > 3600 '
                            'unless b_metric offset 5m')
    assert metrics == {"a_metric", "b_metric"}
    assert labels == {"x"}


def test_label_values_names_its_metric_and_label() -> None:
    assert names('label_values(m{namespace=~"$namespace"}, model)') == (
        {"m"}, {"namespace", "model"})


def test_unknown_metric_and_label_are_reported() -> None:
    pages = {"known_total": {"namespace", "model"}}
    problems = unknown_names([Query("panel P", 'rate(known_total{modle="x"}[5m])'),
                              Query("panel Q", "sum(missing)")], pages)
    assert problems == ["panel P: label modle is on none of ['known_total']",
                        "panel Q: metric missing is not exposed"]
