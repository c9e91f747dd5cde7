/**
 * Temporal SDK (Core 1.24) metrics the dashboard uses, as the Prometheus exporter names them (default prefix
 * `temporal_`, no `_total` or unit suffixes; histograms add `_bucket`, `_sum`, `_count`). The metrics integration
 * test checks that the activity pools' and the control pool's /metrics show them.
 */
export const SDK_ACTIVITY_METRICS = [
  'temporal_activity_execution_latency',
  'temporal_activity_schedule_to_start_latency',
  'temporal_activity_succeed_endtoend_latency',
  'temporal_worker_task_slots_available',
  'temporal_worker_task_slots_used',
  'temporal_num_pollers',
  'temporal_request',
  'temporal_request_latency',
];

export const SDK_WORKFLOW_METRICS = [
  'temporal_workflow_task_execution_latency',
  'temporal_workflow_task_schedule_to_start_latency',
  'temporal_workflow_completed',
  'temporal_sticky_cache_size',
];

export const SDK_METRICS = [...SDK_ACTIVITY_METRICS, ...SDK_WORKFLOW_METRICS];
