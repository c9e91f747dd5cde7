{{- define "ratchet.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ratchet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ratchet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ratchet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one pool: call with (dict "root" $ "pool" "cpu"). */}}
{{- define "ratchet.poolSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ratchet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .pool }}
{{- end -}}

{{/* Each pool's offset from metrics.basePort, as in workers/observability/setup.ts. */}}
{{- define "ratchet.metricsPort" -}}
{{- $offsets := dict "control" 0 "cpu" 1 "gpu" 2 "torch" 3 -}}
{{- add .root.Values.metrics.basePort (get $offsets .pool) -}}
{{- end -}}

{{- define "ratchet.secretName" -}}
{{- printf "%s-env" (include "ratchet.fullname" .) -}}
{{- end -}}

{{- define "ratchet.claimName" -}}
{{- .Values.artifacts.persistence.existingClaim | default (printf "%s-artifacts" (include "ratchet.fullname" .)) -}}
{{- end -}}
