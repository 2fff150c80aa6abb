// Package kubectl drives a deployment through kubectl on a host (microk8s kubectl
// over SSH): deployment, replica set and pod state, set image, rollout status and
// undo, and the app's manifests. It imports only remote/hostexec.
package kubectl
