{{- define "pgbouncer.fullname" -}}pgbouncer{{- end -}}

{{- define "pgbouncer.selectorLabels" -}}
app.kubernetes.io/name: pgbouncer
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pgbouncer.labels" -}}
{{ include "pgbouncer.selectorLabels" . }}
app.kubernetes.io/component: connection-pooler
app.kubernetes.io/part-of: jobfleet
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
jobfleet.io/environment: {{ .Values.environment }}
{{- end -}}

{{/*
Pool arithmetic (docs/infra.md, "PgBouncer"), per PgBouncer replica:
  server budget      B = rdsMaxConnections - reservedConnections
  max_db_connections = floor(B / replicas)    hard cap of server connections one replica opens
  default_pool_size  = max_db_connections     one database/user pair: the whole share
  max_client_conn    = sum(maxReplicas x connectionsPerPod) + clientHeadroom
                       every client may land on one replica (the Service balances connections, not load)
*/}}
{{- define "pgbouncer.serverPerReplica" -}}
{{- $budget := sub (int .Values.pools.rdsMaxConnections) (int .Values.pools.reservedConnections) -}}
{{- div $budget (int .Values.replicas) -}}
{{- end -}}

{{- define "pgbouncer.maxClientConn" -}}
{{- $sum := 0 -}}
{{- range .Values.pools.clients -}}
{{- $sum = add $sum (mul (int .maxReplicas) (int .connectionsPerPod)) -}}
{{- end -}}
{{- add $sum (int .Values.pools.clientHeadroom) -}}
{{- end -}}

{{- define "pgbouncer.validate" -}}
{{- if lt (int (include "pgbouncer.serverPerReplica" .)) 5 -}}
{{- fail (printf "pools: (rdsMaxConnections %d - reservedConnections %d) / replicas %d leaves %s server connections per PgBouncer replica; at least 5 are needed" (int .Values.pools.rdsMaxConnections) (int .Values.pools.reservedConnections) (int .Values.replicas) (include "pgbouncer.serverPerReplica" .)) -}}
{{- end -}}
{{- if and (eq .Values.upstream.sslmode "verify-full") (not .Values.upstream.caConfigMap) -}}
{{- fail "upstream.sslmode verify-full needs upstream.caConfigMap (the RDS CA bundle)" -}}
{{- end -}}
{{- end -}}
