{{- define "observability.labels" -}}
app.kubernetes.io/name: jobfleet-observability
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: jobfleet
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The URL prefix written in rules/jobfleet.rules.yaml (rewritten when runbookBaseUrl is set). */}}
{{- define "observability.defaultRunbookBase" -}}
https://github.com/jobfleet/jobfleet/blob/main/docs/runbooks
{{- end -}}
