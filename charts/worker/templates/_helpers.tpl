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
{{- printf "%s-jobfleet-%s" .Values.environment .Values.pool -}}
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

{{- define "worker.dbSecretName" -}}
{{- if and (eq .Values.database.source "existingSecret") .Values.database.existingSecretName -}}
{{- .Values.database.existingSecretName -}}
{{- else -}}
{{- printf "%s-db" (include "worker.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
Scale-to-zero for the KEDA SQS mode: explicit value, or on for the ai pool when unset.
*/}}
{{- define "worker.scaleToZero" -}}
{{- $v := .Values.autoscaling.kedaSqs.scaleToZero -}}
{{- if kindIs "invalid" $v -}}
{{- ternary "true" "false" (eq .Values.pool "ai") -}}
{{- else -}}
{{- ternary "true" "false" $v -}}
{{- end -}}
{{- end -}}

{{/*
Render-time invariants the JSON schema cannot express (cross-field rules).
*/}}
{{- define "worker.validate" -}}
{{- $tgp := int .Values.terminationGracePeriodSeconds -}}
{{- $drain := int .Values.worker.drainTimeoutSeconds -}}
{{- if le $tgp $drain -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than worker.drainTimeoutSeconds (%d): the kubelet would SIGKILL pods mid-drain" $tgp $drain) -}}
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
{{- if and .Values.gpu.enabled (not .Values.isolatedNodePool.enabled) -}}
{{- fail "gpu.enabled needs isolatedNodePool.enabled: accelerator nodes are only provisioned by the isolated NodePool" -}}
{{- end -}}
{{- end -}}

{{/*
The environment variable of a worker setting: `inference.base_url` is
JOBFLEET_INFERENCE__BASE_URL (the worker splits nested settings on `__`).
*/}}
{{- define "worker.settingEnv" -}}
{{- printf "JOBFLEET_%s" (. | upper | replace "." "__") -}}
{{- end -}}
