{{/* Names and labels shared by every template. Helpers carry the chart's name as a prefix so they
never collide with a parent chart's. */}}

{{- define "classroom-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the release name alone when it already says classroom-operator. */}}
{{- define "classroom-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object of the release carries; each template adds its component. */}}
{{- define "classroom-operator.commonLabels" -}}
app.kubernetes.io/name: {{ include "classroom-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* What the Deployment selects its pods by; nothing else of the release may carry all of it. */}}
{{- define "classroom-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "classroom-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "classroom-operator.labels" -}}
{{ include "classroom-operator.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "classroom-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "classroom-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The engine store PVC: the existing claim when given, else the one this chart creates. */}}
{{- define "classroom-operator.engineStoreClaim" -}}
{{- default (printf "%s-engines" (include "classroom-operator.fullname" .)) .Values.engineStore.existingClaim -}}
{{- end -}}

{{- define "classroom-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
