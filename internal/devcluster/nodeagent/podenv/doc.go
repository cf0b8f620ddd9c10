// Package podenv resolves a container's environment as the kubelet does
// (base variables, envFrom, env with $(VAR) expansion, downward API and
// ConfigMap/Secret references) and expands $(VAR) references in commands.
package podenv
