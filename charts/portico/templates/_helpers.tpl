{{/* Name of the chart, overridable. */}}
{{- define "portico.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: the release name, with the chart name appended unless it already contains it. */}}
{{- define "portico.fullname" -}}
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

{{/* Name of the controller's objects (Deployment, Service, ConfigMap). */}}
{{- define "portico.controller.fullname" -}}
{{- printf "%s-%s" (include "portico.fullname" .) .Values.controller.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Namespace objects are installed into. */}}
{{- define "portico.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{/* Namespace the controller watches when scoped (empty = all namespaces). */}}
{{- define "portico.watchNamespace" -}}
{{- if .Values.controller.scope.enabled -}}
{{- default (include "portico.namespace" .) .Values.controller.scope.namespace -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "portico.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "portico.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: portico
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select the controller pods. */}}
{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* Name of the ServiceAccount. */}}
{{- define "portico.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "portico.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Container image reference: registry/image, then @digest or :tag (default the chart's appVersion). */}}
{{- define "portico.image" -}}
{{- $img := .Values.controller.image -}}
{{- $repo := ternary (printf "%s/%s" $img.registry $img.image) $img.image (ne $img.registry "") -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Leader election Lease name. */}}
{{- define "portico.electionID" -}}
{{- default (printf "%s-leader" (include "portico.fullname" .)) .Values.controller.electionID -}}
{{- end -}}

{{/*
RBAC rules for namespaced objects the controller reads and the statuses it writes. They go into a ClusterRole,
or into a Role in the watched namespace when the controller is scoped to one.
*/}}
{{- define "portico.namespacedRules" -}}
- apiGroups: [""]
  resources: [services, secrets, configmaps]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses/status]
  verbs: [update]
- apiGroups: [portico.dev]
  resources: [mailproxies, httproutepolicies]
  verbs: [list, watch]
- apiGroups: [portico.dev]
  resources: [mailproxies/status, httproutepolicies/status]
  verbs: [update, patch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
