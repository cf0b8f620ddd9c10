// Package hooks runs user hooks: an HTTP POST of the step's context as JSON,
// or a command run in an instance's pod through the Kubernetes pods/exec API
// (the same client-go code on the local stack and on a real cluster), with the
// step's context on the command's standard input.
//
// Contract: one activity execution is one attempt. The hook's timeout is the
// activity's start-to-close timeout and its retries are the activity's retry
// policy (see RetryPolicy), so every attempt is visible in the Temporal UI and
// the workflow applies the hook's failure policy after the last attempt. A
// failed attempt returns a retryable error naming the hook, the target and the
// reason (HTTP status or exit code, with the first KiB of output).
package hooks
