"""CloudWatch metrics of the stack from the alarm table's data (one place for namespaces, names and dimensions)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from exact_online_sdk.aws import metrics_names as mn
from exact_online_sdk.aws.alarms import AlarmSpec, Resource


def refresher_metric(
    name: str,
    *,
    statistic: str,
    period: Duration | None = None,
    dimensions: Mapping[str, str] | None = None,
) -> cloudwatch.Metric:
    """A metric the refresher emits (namespace ExactOnline/TokenRefresher; Powertools adds ``service``)."""
    return cloudwatch.Metric(
        namespace=mn.NAMESPACE,
        metric_name=name,
        statistic=statistic,
        period=period or Duration.minutes(1),
        dimensions_map={"service": mn.SERVICE, **(dimensions or {})},
    )


def spec_metric(spec: AlarmSpec, resources: Mapping[Resource, str]) -> cloudwatch.IMetric:
    """What an alarm spec watches, with its placeholders replaced by the deployed resources' names: its metric, or,
    with ``unless``, ``IF(gauge >= 1, quiet value, metric)`` over the metric and the gauge."""
    dimensions = {k: resources[v] if isinstance(v, Resource) else v for k, v in spec.dimensions.items()}
    period = Duration.seconds(spec.period_s)
    metric = cloudwatch.Metric(
        namespace=spec.namespace,
        metric_name=spec.metric,
        statistic=spec.statistic,
        period=period,
        dimensions_map=dimensions,
    )
    if spec.unless is None:
        return metric
    gauge = cloudwatch.Metric(
        namespace=spec.namespace, metric_name=spec.unless, statistic="Maximum", period=period, dimensions_map=dimensions
    )
    return cloudwatch.MathExpression(
        expression=f"IF(gate >= 1, {spec.quiet_value:g}, value)",
        using_metrics={"value": metric, "gate": gauge},
        period=period,
        label=f"{spec.metric} (quiet while {spec.unless})",
    )
