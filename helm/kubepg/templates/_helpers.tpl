{{/* Chart name, shortened to the 63 characters a label value allows. */}}
{{- define "kubepg.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name: the release name, suffixed with the chart name unless it already contains it. */}}
{{- define "kubepg.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubepg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubepg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubepg.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kubepg.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kubepg.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubepg.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding users.yaml, or nothing when kubepg runs without SQL users. */}}
{{- define "kubepg.usersSecretName" -}}
{{- if .Values.users.existingSecret }}
{{- .Values.users.existingSecret }}
{{- else if .Values.users.users }}
{{- printf "%s-users" (include "kubepg.fullname" .) }}
{{- end }}
{{- end }}

{{/*
kubepg's config file. The keys the chart sets describe the pod it builds (ports, mounted paths),
so they take precedence over .Values.config.
*/}}
{{- define "kubepg.config" -}}
{{- $chart := dict "listen" "127.0.0.1:5432" "health-listen" "0.0.0.0:9187" "in-cluster" true "cache-dir" "/var/cache/kubepg" }}
{{- /* Without users kubepg trusts loopback only and refuses other addresses: port-forward. */}}
{{- if include "kubepg.usersSecretName" . }}
{{- $_ := set $chart "listen" "0.0.0.0:5432" }}
{{- $_ := set $chart "users-file" "/etc/kubepg/users/users.yaml" }}
{{- end }}
{{- if .Values.tls.secretName }}
{{- $_ := set $chart "tls-cert" "/etc/kubepg/tls/tls.crt" }}
{{- $_ := set $chart "tls-key" "/etc/kubepg/tls/tls.key" }}
{{- $_ := set $chart "tls-required" .Values.tls.required }}
{{- end }}
{{- if .Values.identity.enabled }}
{{- $_ := set $chart "identities" .Values.identity.mappings }}
{{- end }}
{{- toYaml (merge $chart (deepCopy .Values.config)) }}
{{- end }}
