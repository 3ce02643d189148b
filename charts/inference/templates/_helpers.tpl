{{/*
Fixed name: the ai workers' `inference.base_url` and NetworkPolicy name this Service and its pods.
*/}}
{{- define "inference.fullname" -}}jobfleet-inference{{- end -}}

{{- define "inference.selectorLabels" -}}
app.kubernetes.io/name: jobfleet-inference
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "inference.labels" -}}
{{ include "inference.selectorLabels" . }}
app.kubernetes.io/component: model-server
app.kubernetes.io/part-of: jobfleet
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
jobfleet.io/environment: {{ .Values.environment }}
{{- end -}}

{{- define "inference.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository .Values.image.tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}
{{- end -}}

{{- define "inference.queueUrl" -}}
{{- printf "https://sqs.%s.amazonaws.com/%s/%s-jobfleet-%s" .Values.aws.region .Values.aws.accountId .Values.environment .Values.pool -}}
{{- end -}}
