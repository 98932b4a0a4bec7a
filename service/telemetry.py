"""icewatch's own Prometheus metrics, in an app-owned registry (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    """Counters, gauges and histograms about the daemon itself; one instance per app (or test)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages_received = Counter(
            "icewatch_messages_received_total", "SQS messages received", registry=r
        )
        self.messages_processed = Counter(
            "icewatch_messages_processed_total", "SQS messages fully processed and deleted", registry=r
        )
        self.messages_failed = Counter(
            "icewatch_messages_failed_total",
            "SQS messages not processed, by reason and outcome (deleted or left for redelivery)",
            ["reason", "outcome"],
            registry=r,
        )
        self.sweep_database_errors = Counter(
            "icewatch_sweep_database_errors_total",
            "Glue databases the reconcile sweep could not list (denied, throttled, unreachable)",
            registry=r,
        )
        self.messages_ignored = Counter(
            "icewatch_messages_ignored_total",
            "SQS messages deleted without work: not a Glue table event, or filtered out, by reason",
            ["reason"],
            registry=r,
        )
        self.processing_seconds = Histogram(
            "icewatch_table_processing_seconds",
            "Time to compute and publish one table's metrics",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.event_lag_seconds = Histogram(
            "icewatch_event_lag_seconds",
            "Now minus the event's time, when its table's metrics are published",
            buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.put_metric_data_calls = Counter(
            "icewatch_put_metric_data_calls_total", "PutMetricData calls made (retries included)", registry=r
        )
        self.put_metric_data_datums = Counter(
            "icewatch_put_metric_data_datums_total", "Datums acknowledged by CloudWatch", registry=r
        )
        self.put_metric_data_errors = Counter(
            "icewatch_put_metric_data_errors_total",
            "PutMetricData failures, by error code (throttling and 5xx are retried)",
            ["code"],
            registry=r,
        )
        self.datums_dropped = Counter(
            "icewatch_datums_dropped_total",
            "Datums not sent, by reason (too_old, too_far_in_future, not_finite)",
            ["reason"],
            registry=r,
        )
        self.tables_tracked = Gauge("icewatch_tables_tracked", "Tables icewatch has processed", registry=r)
        self.snapshots_published = Counter(
            "icewatch_snapshots_published_total", "Snapshots whose metrics were published", registry=r
        )
        # The subnet-capacity poller (service/connections).
        self.connection_free_ips = Gauge(
            "icewatch_glue_connection_free_ips",
            "Free IP addresses in the subnet of a managed Glue job's connection",
            ["job", "connection"],
            registry=r,
        )
        self.job_first_connection_free_ips = Gauge(
            "icewatch_glue_job_first_connection_free_ips",
            "Free IP addresses in the subnet of the connection a managed Glue job tries first",
            ["job"],
            registry=r,
        )
        self.connection_reorders = Counter(
            "icewatch_glue_connection_reorders_total",
            "Connection order changes of managed Glue jobs, by outcome (updated, dry_run)",
            ["job", "outcome"],
            registry=r,
        )
        self.subnet_poll_errors = Counter(
            "icewatch_subnet_poll_errors_total",
            "Subnet poller errors by job and reason (connection_lookup, get_job, update_job, no_figures)",
            ["job", "reason"],
            registry=r,
        )
