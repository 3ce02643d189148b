{{- define "platform.labels" -}}
app.kubernetes.io/name: jobfleet-platform
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: jobfleet
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "platform.nodeClass" -}}
{{- $root := .root -}}
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: {{ .name }}
  labels:
    {{- include "platform.labels" $root | nindent 4 }}
    jobfleet.io/kubernetes-version: {{ $root.Values.kubernetesVersion | quote }}
spec:
  role: {{ $root.Values.nodeRole | quote }}
  amiSelectorTerms:
    - alias: {{ $root.Values.amiAlias | quote }}
  subnetSelectorTerms:
    - tags:
        karpenter.sh/discovery: {{ $root.Values.clusterName | quote }}
  securityGroupSelectorTerms:
    - tags:
        karpenter.sh/discovery: {{ $root.Values.clusterName | quote }}
  metadataOptions:
    # IMDSv2 only, one hop: pods cannot reach the node role through the metadata service.
    httpEndpoint: enabled
    httpProtocolIPv6: disabled
    httpPutResponseHopLimit: 1
    httpTokens: required
  blockDeviceMappings:
    - deviceName: /dev/xvda
      ebs:
        volumeSize: {{ .volumeSize }}
        volumeType: gp3
        encrypted: true
        deleteOnTermination: true
  tags:
    jobfleet.io/nodepool: {{ .name }}
    {{- with $root.Values.tags }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
