{{- define "fleet.controlName" -}}jobfleet-control{{- end -}}

{{- define "fleet.controlSelectorLabels" -}}
app.kubernetes.io/name: jobfleet-control
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fleet.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: jobfleet
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
jobfleet.io/environment: {{ .Values.environment }}
{{- end -}}

{{- define "fleet.controlLabels" -}}
{{ include "fleet.labels" . }}
app.kubernetes.io/name: jobfleet-control
app.kubernetes.io/component: control
{{- end -}}

{{- define "fleet.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "fleet.controlRoleArn" -}}
{{- .Values.control.roleArn | default (printf "arn:aws:iam::%s:role/%s-jobfleet-control" .Values.aws.accountId .Values.environment) -}}
{{- end -}}

{{/* Same TOML as charts/worker's worker.poolConfigToml (CONTRACTS.md shape). */}}
{{- define "fleet.poolConfigToml" -}}
# Rendered by charts/fleet from .Values.poolConfig: the pools beyond the bundled media, notifications, ai.
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
{{- with $p.job_timeouts_secs }}

[pools.{{ $name }}.job_timeouts_secs]
{{- range $type, $secs := . }}
{{ $type | quote }} = {{ int $secs }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "fleet.consoleName" -}}jobfleet-console{{- end -}}

{{- define "fleet.consoleSelectorLabels" -}}
app.kubernetes.io/name: jobfleet-console
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fleet.consoleLabels" -}}
{{ include "fleet.labels" . }}
app.kubernetes.io/name: jobfleet-console
app.kubernetes.io/component: console
{{- end -}}

{{- define "fleet.consoleRoleArn" -}}
{{- .Values.console.roleArn | default (printf "arn:aws:iam::%s:role/%s-jobfleet-console" .Values.aws.accountId .Values.environment) -}}
{{- end -}}

{{/* The addresses whose identity headers the console believes: only the sidecar (loopback), or the
     external auth proxy's CIDRs. */}}
{{- define "fleet.consoleTrustedProxies" -}}
{{- if eq .Values.console.authProxy.mode "sidecar" -}}
127.0.0.1/32,::1/128
{{- else -}}
{{- join "," .Values.console.authProxy.trustedCidrs -}}
{{- end -}}
{{- end -}}
