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
{{- define "kab.webhookTokenDir" -}}/var/run/secrets/kube-audit-bridge/webhook{{- end -}}
{{- define "kab.tlsDir" -}}/var/run/secrets/kube-audit-bridge/tls{{- end -}}

{{/* The Secret holding the webhook sources' token: the user's, the chart's, or "" for none. */}}
{{- define "kab.webhookTokenSecret" -}}
{{- if .Values.webhookAuth.existingSecret -}}
{{- .Values.webhookAuth.existingSecret -}}
{{- else if .Values.webhookAuth.createSecret -}}
{{- printf "%s-webhook-token" (include "kab.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
Names (space-separated) of the webhook sources that have neither their own bearerTokenFile nor
allowUnauthenticated: true. The user's explicit settings win; these are the ones the bridge would
refuse without a token or client certificates (src/check-config.ts).
*/}}
{{- define "kab.openWebhookSources" -}}
{{- $names := list -}}
{{- range .Values.config.sources -}}
{{- if and (eq .type "webhook") (not .bearerTokenFile) (ne .allowUnauthenticated true) -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- end -}}
{{- join " " $names -}}
{{- end -}}

{{/* The webhook sources that get the chart's token (space-separated names): the open ones, when there is a token. */}}
{{- define "kab.tokenSources" -}}
{{- if include "kab.webhookTokenSecret" . -}}
{{- include "kab.openWebhookSources" . -}}
{{- end -}}
{{- end -}}

{{/*
The bridge's config.yaml: the user's `config` with the keys the pod layout decides (checkpoint and
dead-letter on the data volume, the server on the Service's ports, TLS from the mounted Secret, the
chart's token on the webhook sources that have no authentication of their own) set by the chart.
*/}}
{{- define "kab.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $dataDir := include "kab.dataDir" . -}}
{{- $checkpoint := mergeOverwrite (deepCopy (default (dict) $cfg.checkpoint)) (dict "type" "file" "path" (printf "%s/checkpoints.json" $dataDir)) -}}
{{- $_ := set $cfg "checkpoint" $checkpoint -}}
{{- $_ := set $cfg "deadLetter" (dict "path" (printf "%s/dead-letter.jsonl" $dataDir)) -}}
{{- $server := dict "host" "0.0.0.0" "port" (int .Values.service.port) -}}
{{- if not (kindIs "invalid" .Values.service.telemetryPort) -}}
{{- $_ := set $server "telemetry" (dict "port" (int .Values.service.telemetryPort)) -}}
{{- end -}}
{{- if .Values.tls.secretName -}}
{{- $tlsDir := include "kab.tlsDir" . -}}
{{- $tls := dict "certFile" (printf "%s/tls.crt" $tlsDir) "keyFile" (printf "%s/tls.key" $tlsDir) -}}
{{- if .Values.tls.clientCertificates -}}
{{- $_ := set $tls "clientCaFile" (printf "%s/ca.crt" $tlsDir) -}}
{{- end -}}
{{- $_ := set $server "tls" $tls -}}
{{- end -}}
{{- $_ := set $cfg "server" $server -}}
{{- $tokenSources := include "kab.tokenSources" . | splitList " " -}}
{{- range $cfg.sources -}}
{{- if has .name $tokenSources -}}
{{- $_ := set . "bearerTokenFile" (printf "%s/token" (include "kab.webhookTokenDir" $)) -}}
{{- end -}}
{{- end -}}
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
{{- if and (not (kindIs "invalid" .Values.service.telemetryPort)) (eq (int .Values.service.telemetryPort) (int .Values.service.port)) -}}
{{- fail (printf "service.telemetryPort (%d) must differ from service.port, or null to serve /metrics and the probes on service.port" (int .Values.service.telemetryPort)) -}}
{{- end -}}
{{- if and .Values.tls.clientCertificates (not .Values.tls.secretName) -}}
{{- fail "tls.clientCertificates needs tls.secretName: client certificates are asked for during the TLS handshake" -}}
{{- end -}}
{{- /* Without a token, the bridge would refuse these sources at start (exit 2): say so at install time. */ -}}
{{- $open := include "kab.openWebhookSources" . -}}
{{- if and $open (not (include "kab.webhookTokenSecret" .)) (not .Values.tls.clientCertificates) -}}
{{- fail (printf "webhook source(s) %s would accept audit events from anyone: keep webhookAuth.createSecret or set webhookAuth.existingSecret (a bearer token), set tls.clientCertificates (mutual TLS), give the source its own bearerTokenFile, or say allowUnauthenticated: true on it" (splitList " " $open | join ", ")) -}}
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
{{- $node := list -}}
{{- with .Values.heapLimitMiB }}{{ $node = append $node (printf "--max-old-space-size=%d" (int .)) }}{{ end -}}
{{- with .Values.semiSpaceMiB }}{{ $node = append $node (printf "--max-semi-space-size=%d" (int .)) }}{{ end -}}
{{- if $node }}
- name: NODE_OPTIONS
  value: {{ join " " $node | quote }}
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
