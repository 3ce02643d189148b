{{/*
HPA behavior shared by the KEDA ScaledObject and the plain HPA. Scale up fast (bounded), scale down
slowly: the stabilisation window makes the HPA act on the highest recommendation of the window, and
pods that do go receive SIGTERM, stop polling and drain in-flight jobs (terminationGracePeriodSeconds).
*/}}
{{- define "worker.hpaBehavior" -}}
scaleUp:
  stabilizationWindowSeconds: 0
  selectPolicy: Max
  policies:
    - type: Pods
      value: {{ .Values.autoscaling.keda.scaleUpPods }}
      periodSeconds: 30
scaleDown:
  stabilizationWindowSeconds: {{ .Values.autoscaling.keda.scaleDownStabilizationSeconds }}
  selectPolicy: Min
  policies:
    - type: Percent
      value: {{ .Values.autoscaling.keda.scaleDownPercent }}
      periodSeconds: {{ .Values.autoscaling.keda.scaleDownPeriodSeconds }}
{{- end -}}

{{/*
PromQL for the keda-prometheus mode. Result = pod-seconds of work the pool should be sized for:
  avg over pods of jobfleet_queue_backlog_seconds   (visible / one pod's completion rate = pod-seconds queued;
                                                     every pod sees the same queue, so avg, not sum)
  + targetDrainSeconds x busy pods                  (sum(in flight) / per-pod concurrency), so pods still
                                                     working on in-flight jobs are part of the target.
With metricType AverageValue and threshold = targetDrainSeconds the HPA computes
  desired = ceil(result / targetDrainSeconds) = ceil(queued pod-seconds / T) + busy pods.
The worker keeps the gauge finite (an idle pod assumes backlog_min_rate_per_sec); non-finite samples are dropped as a guard.
*/}}
{{- define "worker.backlogQuery" -}}
{{- if .Values.autoscaling.kedaPrometheus.query -}}
{{- .Values.autoscaling.kedaPrometheus.query -}}
{{- else -}}
{{- $sel := printf "namespace=%q,pool=%q" .Release.Namespace .Values.pool -}}
{{- $t := int .Values.autoscaling.kedaPrometheus.targetDrainSeconds -}}
{{- printf "(avg(jobfleet_queue_backlog_seconds{%s} < +Inf) or vector(0)) + (%d * sum(jobfleet_jobs_in_flight{%s}) / max(jobfleet_pool_concurrency{%s} > 0) or vector(0))" $sel $t $sel $sel -}}
{{- end -}}
{{- end -}}
