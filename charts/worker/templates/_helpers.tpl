{{/*
Workload name: jobfleet-<pool>. Fixed by contract (ServiceAccount name, IRSA trust policy).
*/}}
{{- define "worker.fullname" -}}
{{- printf "jobfleet-%s" .Values.pool -}}
{{- end -}}

{{- define "worker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "worker.selectorLabels" -}}
app.kubernetes.io/name: jobfleet-worker
app.kubernetes.io/instance: {{ .Release.Name }}
jobfleet.io/pool: {{ .Values.pool }}
{{- end -}}

{{- define "worker.migrateSelectorLabels" -}}
app.kubernetes.io/name: jobfleet-migrate
app.kubernetes.io/instance: {{ .Release.Name }}
jobfleet.io/pool: {{ .Values.pool }}
{{- end -}}

{{- define "worker.labels" -}}
{{ include "worker.selectorLabels" . }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: jobfleet
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "worker.chart" . }}
jobfleet.io/environment: {{ .Values.environment }}
{{- end -}}

{{- define "worker.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "worker.queueName" -}}
{{- /* A FIFO pool (`poolConfig.<pool>.fifo: true`) has `.fifo` queues, as the Terraform sqs module names them. */ -}}
{{- $pool := get (default dict .Values.poolConfig) .Values.pool | default dict -}}
{{- printf "%s-jobfleet-%s%s" .Values.environment .Values.pool (ternary ".fifo" "" (eq (get $pool "fifo" | toString) "true")) -}}
{{- end -}}

{{- define "worker.queueUrl" -}}
{{- if .Values.queue.url -}}
{{- .Values.queue.url -}}
{{- else -}}
{{- printf "https://sqs.%s.amazonaws.com/%s/%s" .Values.aws.region .Values.aws.accountId (include "worker.queueName" .) -}}
{{- end -}}
{{- end -}}

{{- define "worker.roleArn" -}}
{{- if .Values.serviceAccount.roleArn -}}
{{- .Values.serviceAccount.roleArn -}}
{{- else -}}
{{- printf "arn:aws:iam::%s:role/%s-jobfleet-%s" .Values.aws.accountId .Values.environment .Values.pool -}}
{{- end -}}
{{- end -}}

{{- define "worker.migrateSecretName" -}}
{{- if eq .Values.database.source "existingSecret" -}}
{{- include "worker.dbSecretName" . -}}
{{- else -}}
{{- printf "%s-migrate" (include "worker.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
Secrets the pods read (database URL, secretSettings), comma-separated, for Reloader.
*/}}
{{- define "worker.reloadSecrets" -}}
{{- $names := list (include "worker.dbSecretName" .) -}}
{{- range .Values.worker.secretSettings -}}
{{- $names = append $names .secretName -}}
{{- end -}}
{{- $names | uniq | join "," -}}
{{- end -}}

{{- define "worker.dbSecretName" -}}
{{- if and (eq .Values.database.source "existingSecret") .Values.database.existingSecretName -}}
{{- .Values.database.existingSecretName -}}
{{- else -}}
{{- printf "%s-db" (include "worker.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
Scale-to-zero for the KEDA SQS and drain modes: explicit value, or on for the ai pool when unset.
*/}}
{{- define "worker.scaleToZero" -}}
{{- $v := ternary .Values.autoscaling.kedaDrain.scaleToZero .Values.autoscaling.kedaSqs.scaleToZero (eq .Values.autoscaling.mode "keda-drain") -}}
{{- if kindIs "invalid" $v -}}
{{- ternary "true" "false" (eq .Values.pool "ai") -}}
{{- else -}}
{{- ternary "true" "false" $v -}}
{{- end -}}
{{- end -}}

{{/*
The pool's concurrency: `poolConfig.<pool>.concurrency` when set (the worker uses it for this pool), else `worker.concurrency`.
*/}}
{{- define "worker.concurrency" -}}
{{- $pc := index .Values.poolConfig .Values.pool | default dict -}}
{{- int (default .Values.worker.concurrency (index $pc "concurrency")) -}}
{{- end -}}

{{/*
The longest job timeout of the pool: `worker.jobTimeoutSeconds` and every `poolConfig.<pool>.job_timeouts_secs` value.
*/}}
{{- define "worker.longestJobTimeout" -}}
{{- $max := int .Values.worker.jobTimeoutSeconds -}}
{{- $pc := index .Values.poolConfig .Values.pool | default dict -}}
{{- range $type, $secs := (index $pc "job_timeouts_secs" | default dict) -}}
{{- if gt (int $secs) $max -}}{{- $max = int $secs -}}{{- end -}}
{{- end -}}
{{- $max -}}
{{- end -}}

{{/*
KEDA aws-sqs-queue target per pod: `kedaSqs.queueLength`, default the pod's concurrency.
*/}}
{{- define "worker.queueLength" -}}
{{- $q := .Values.autoscaling.kedaSqs.queueLength -}}
{{- if kindIs "invalid" $q -}}{{- include "worker.concurrency" . -}}{{- else -}}{{- int $q -}}{{- end -}}
{{- end -}}

{{/*
Render-time invariants the JSON schema cannot express (cross-field rules).
*/}}
{{- define "worker.validate" -}}
{{- $tgp := int .Values.terminationGracePeriodSeconds -}}
{{- $drain := int .Values.worker.drainTimeoutSeconds -}}
{{- $longest := int (include "worker.longestJobTimeout" .) -}}
{{- $wait := int .Values.worker.receiveWaitSeconds -}}
{{- $c := int (include "worker.concurrency" .) -}}
{{- if le $tgp $drain -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than worker.drainTimeoutSeconds (%d): the kubelet would SIGKILL pods mid-drain" $tgp $drain) -}}
{{- end -}}
{{- if lt $drain $wait -}}
{{- fail (printf "worker.receiveWaitSeconds (%d) must fit inside worker.drainTimeoutSeconds (%d): a long poll in flight at SIGTERM must return before the drain ends" $wait $drain) -}}
{{- end -}}
{{- if lt $drain $longest -}}
{{- fail (printf "worker.drainTimeoutSeconds (%d) must be at least the pool's longest job timeout (%d s): a job started just before SIGTERM could not finish and would be cut (lower the job timeouts or raise the drain and terminationGracePeriodSeconds)" $drain $longest) -}}
{{- end -}}
{{- if and (eq .Values.autoscaling.mode "keda-sqs") (gt (int (include "worker.queueLength" .)) $c) -}}
{{- fail (printf "autoscaling.kedaSqs.queueLength (%d) must be at most the pod's concurrency (%d): with more, a pool whose every slot is busy reads as over-provisioned and KEDA scales in pods with jobs in flight" (int (include "worker.queueLength" .)) $c) -}}
{{- end -}}
{{- $cap := int (index (index .Values.poolConfig .Values.pool | default dict) "tenant_max_concurrency" | default 0) -}}
{{- if gt $cap $c -}}
{{- fail (printf "poolConfig.%s.tenant_max_concurrency (%d) must be at most the pod's concurrency (%d): a larger cap caps nothing (the worker refuses it at start-up)" .Values.pool $cap $c) -}}
{{- end -}}
{{- if not (or (has .Values.pool (list "media" "notifications" "ai")) (hasKey .Values.poolConfig .Values.pool)) -}}
{{- fail (printf "pool %q is not bundled (media, notifications, ai): define it in poolConfig.%s (job_types, ...)" .Values.pool .Values.pool) -}}
{{- end -}}
{{- if lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas) -}}
{{- fail "autoscaling.maxReplicas must be >= autoscaling.minReplicas" -}}
{{- end -}}
{{- if and (eq .Values.autoscaling.mode "keda-prometheus") (lt (int .Values.autoscaling.minReplicas) 1) -}}
{{- fail "autoscaling.mode keda-prometheus needs minReplicas >= 1: the backlog metric is exported by worker pods, so nothing could wake a pool at zero (use keda-sqs for scale-to-zero)" -}}
{{- end -}}
{{- if and (eq .Values.autoscaling.mode "hpa") (lt (int .Values.autoscaling.minReplicas) 1) -}}
{{- fail "autoscaling.mode hpa needs minReplicas >= 1" -}}
{{- end -}}
{{- if and (eq .Values.database.source "existingSecret") (not .Values.database.existingSecretName) -}}
{{- fail "database.source existingSecret needs database.existingSecretName" -}}
{{- end -}}
{{- end -}}

{{/*
TOML of `poolConfig` (`[pools.<name>]` tables, CONTRACTS.md), written by hand: Helm's toToml prints
YAML integers as floats (`600.0`), which the worker's u32/u64 fields refuse.
*/}}
{{- define "worker.poolConfigToml" -}}
# Rendered by charts/worker from .Values.poolConfig; top-level settings come from JOBFLEET_* variables.
{{- range $name, $p := .Values.poolConfig }}

[pools.{{ $name }}]
job_types = [{{ range $i, $t := $p.job_types }}{{ if $i }}, {{ end }}{{ $t | quote }}{{ end }}]
{{- with $p.concurrency }}
concurrency = {{ int . }}
{{- end }}
{{- with $p.queue_url }}
queue_url = {{ . | quote }}
{{- end }}
{{- with $p.dlq_url }}
dlq_url = {{ . | quote }}
{{- end }}
{{- if hasKey $p "fifo" }}
fifo = {{ $p.fifo }}
{{- end }}
{{- if $p.fair }}
fair = true
{{- end }}
{{- with $p.tenant_max_concurrency }}
tenant_max_concurrency = {{ int . }}
{{- end }}
{{- with $p.weight }}
weight = {{ int . }}
{{- end }}
{{- with $p.priority }}
priority = {{ . | quote }}
{{- end }}
{{- with $p.job_timeouts_secs }}

[pools.{{ $name }}.job_timeouts_secs]
{{- range $type, $secs := . }}
{{ $type | quote }} = {{ int $secs }}
{{- end }}
{{- end }}
{{- range $queue, $q := $p.priority_queues }}

[pools.{{ $name }}.priority_queues.{{ $queue }}]
weight = {{ int $q.weight }}
{{- with $q.queue_url }}
queue_url = {{ . | quote }}
{{- end }}
{{- with $q.dlq_url }}
dlq_url = {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The environment variable of a worker setting: `inference.base_url` is
JOBFLEET_INFERENCE__BASE_URL (the worker splits nested settings on `__`).
*/}}
{{- define "worker.settingEnv" -}}
{{- printf "JOBFLEET_%s" (. | upper | replace "." "__") -}}
{{- end -}}
