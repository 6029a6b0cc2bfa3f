{{/* The release's base name. */}}
{{- define "recruitcrm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "recruitcrm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: recruitcrm
{{- end -}}

{{/* The selector of every pod of the release. */}}
{{- define "recruitcrm.releaseSelector" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The selector of one component's pods; call with (dict "root" $ "name" "gateway"). */}}
{{- define "recruitcrm.selector" -}}
{{ include "recruitcrm.releaseSelector" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* A pinned image reference; refuses a missing or `latest` tag. Call with (dict "name" n "image" i). */}}
{{- define "recruitcrm.image" -}}
{{- $tag := toString (required (printf "services.%s.image.tag is required (a pinned version)" .name) .image.tag) -}}
{{- if or (eq $tag "latest") (hasSuffix ":latest" $tag) -}}
{{- fail (printf "services.%s.image.tag must be a pinned version, not latest" .name) -}}
{{- end -}}
{{- printf "%s:%s" (required (printf "services.%s.image.repository is required" .name) .image.repository) $tag -}}
{{- end -}}

{{/* A setting's value as the services read it: maps and lists as JSON, the rest as a string. */}}
{{- define "recruitcrm.envValue" -}}
{{- if or (kindIs "map" .) (kindIs "slice" .) -}}
{{- toJson . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* Services that use Kafka and MongoDB (all but the console). */}}
{{- define "recruitcrm.backends" -}}
candidates campaigns events ats-sync analytics
{{- end -}}

{{/* The import package of a service: ats-sync -> crm_ats_sync. */}}
{{- define "recruitcrm.package" -}}
crm_{{ . | replace "-" "_" }}
{{- end -}}

{{/* The service's own settings the chart derives (ConfigMap). Call with (dict "root" $ "name" n). */}}
{{- define "recruitcrm.derivedConfig" -}}
{{- $root := .root -}}
{{- $fullname := include "recruitcrm.fullname" $root -}}
SERVICE_NAME: {{ .name | quote }}
OTEL_SERVICE_NAME: {{ .name | quote }}
{{- if ne .name "console" }}
MONGODB_DATABASE: {{ printf "crm_%s" (.name | replace "-" "_") | quote }}
{{- end }}
{{- /* The gateway publishes (its outbox relay: user.invited) and consumes nothing. */}}
{{- if or (eq .name "gateway") (has .name (splitList " " (include "recruitcrm.backends" $root))) }}
KAFKA_BOOTSTRAP_SERVERS: {{ required "kafka.bootstrapServers is required" $root.Values.kafka.bootstrapServers | quote }}
KAFKA_GROUP_PREFIX: {{ $root.Values.kafka.groupPrefix | quote }}
{{- end }}
{{- if eq .name "gateway" }}
{{- range $service := splitList " " (include "recruitcrm.backends" $root) }}
{{ printf "%s_URL" ($service | replace "-" "_" | upper) }}: {{ printf "http://%s-%s:8000" $fullname $service | quote }}
{{- end }}
CONSOLE_URL: {{ if $root.Values.services.console.enabled }}{{ printf "http://%s-console:8000" $fullname | quote }}{{ else }}""{{ end }}
METRICS_PORT: "9100"
METRICS_HOST: "0.0.0.0"
{{- end }}
{{- if eq .name "console" }}
GATEWAY_URL: {{ printf "http://%s-gateway:8000" $fullname | quote }}
{{- end }}
{{- end -}}

{{/* The name of the Secret a service reads. */}}
{{- define "recruitcrm.secretName" -}}
{{- $service := index .root.Values.services .name -}}
{{- default (printf "%s-%s" (include "recruitcrm.fullname" .root) .name) $service.existingSecret -}}
{{- end -}}

{{/* Pod security, placement and /tmp, shared by the Deployments and the Job. */}}
{{- define "recruitcrm.podCommon" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}
