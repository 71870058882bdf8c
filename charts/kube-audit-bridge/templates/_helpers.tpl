{{/* Names, labels and the bridge configuration shared by the templates. */}}

{{- define "kab.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kab.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kab.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kab.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kab.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kab.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kab.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kab.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kab.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Where the pod sees its files. */}}
{{- define "kab.configDir" -}}/etc/kube-audit-bridge{{- end -}}
{{- define "kab.dataDir" -}}/var/lib/kube-audit-bridge{{- end -}}

{{/*
The bridge's config.yaml: the user's `config` with the keys the pod layout decides (checkpoint and
dead-letter on the data volume, the server on the Service's port) set by the chart.
*/}}
{{- define "kab.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $dataDir := include "kab.dataDir" . -}}
{{- $checkpoint := mergeOverwrite (deepCopy (default (dict) $cfg.checkpoint)) (dict "type" "file" "path" (printf "%s/checkpoints.json" $dataDir)) -}}
{{- $_ := set $cfg "checkpoint" $checkpoint -}}
{{- $_ := set $cfg "deadLetter" (dict "path" (printf "%s/dead-letter.jsonl" $dataDir)) -}}
{{- $_ := set $cfg "server" (dict "host" "0.0.0.0" "port" (int .Values.service.port)) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "kab.checks" -}}
{{- if and .Values.gcp.serviceAccount .Values.gcp.keySecret.name -}}
{{- fail "gcp: set serviceAccount (workload identity) or keySecret.name (key file), not both" -}}
{{- end -}}
{{- if and .Values.aws.roleArn .Values.aws.credentialsSecret.name -}}
{{- fail "aws: set roleArn (IRSA) or credentialsSecret.name (static keys), not both" -}}
{{- end -}}
{{- if and .Values.azure.workloadIdentity.clientId .Values.azure.clientSecret.name -}}
{{- fail "azure: set workloadIdentity.clientId or clientSecret.name, not both" -}}
{{- end -}}
{{- if and (not .Values.serviceAccount.create) (or .Values.gcp.serviceAccount .Values.aws.roleArn .Values.azure.workloadIdentity.clientId) -}}
{{- fail "workload identity (gcp.serviceAccount, aws.roleArn, azure.workloadIdentity.clientId) annotates the ServiceAccount the chart creates: set serviceAccount.create=true, or leave them empty and annotate your own ServiceAccount" -}}
{{- end -}}
{{- /* SIGTERM drains for up to pipeline.shutdownTimeout: the kubelet must wait longer before SIGKILL. Checked for the plain forms (45s, 2m). */ -}}
{{- $timeout := toString (dig "pipeline" "shutdownTimeout" "30s" .Values.config) -}}
{{- $seconds := -1 -}}
{{- if regexMatch "^[0-9]+s$" $timeout -}}{{- $seconds = trimSuffix "s" $timeout | atoi -}}
{{- else if regexMatch "^[0-9]+m$" $timeout -}}{{- $seconds = mul (trimSuffix "m" $timeout | atoi) 60 -}}
{{- end -}}
{{- if ge (int $seconds) (int .Values.terminationGracePeriodSeconds) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be longer than config.pipeline.shutdownTimeout (%s), or SIGKILL cuts the drain short" (int .Values.terminationGracePeriodSeconds) $timeout) -}}
{{- end -}}
{{- $names := dict -}}
{{- range .Values.config.sources -}}
{{- if hasKey $names .name -}}
{{- fail (printf "config.sources: the name %q is used twice" .name) -}}
{{- end -}}
{{- $_ := set $names .name true -}}
{{- end -}}
{{- end -}}

{{/* The container environment: cloud credentials from Secrets, then the user's env. */}}
{{- define "kab.env" -}}
{{- with .Values.heapLimitMiB }}
- name: NODE_OPTIONS
  value: {{ printf "--max-old-space-size=%d" (int .) | quote }}
{{- end }}
{{- with .Values.gcp.keySecret.name }}
- name: GOOGLE_APPLICATION_CREDENTIALS
  value: /var/run/secrets/google/key.json
{{- end }}
{{- with .Values.aws.credentialsSecret }}
{{- if .name }}
- name: AWS_ACCESS_KEY_ID
  valueFrom: { secretKeyRef: { name: {{ .name | quote }}, key: {{ .accessKeyIdKey | quote }} } }
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: { secretKeyRef: { name: {{ .name | quote }}, key: {{ .secretAccessKeyKey | quote }} } }
{{- if .sessionTokenKey }}
- name: AWS_SESSION_TOKEN
  valueFrom: { secretKeyRef: { name: {{ .name | quote }}, key: {{ .sessionTokenKey | quote }} } }
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.azure.clientSecret }}
{{- if .name }}
- name: AZURE_TENANT_ID
  valueFrom: { secretKeyRef: { name: {{ .name | quote }}, key: {{ .tenantIdKey | quote }} } }
- name: AZURE_CLIENT_ID
  valueFrom: { secretKeyRef: { name: {{ .name | quote }}, key: {{ .clientIdKey | quote }} } }
- name: AZURE_CLIENT_SECRET
  valueFrom: { secretKeyRef: { name: {{ .name | quote }}, key: {{ .clientSecretKey | quote }} } }
{{- end }}
{{- end }}
{{- with .Values.env }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end -}}
