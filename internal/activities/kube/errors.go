package kube

import (
	"errors"
	"net/http"
	"strings"

	"go.temporal.io/sdk/temporal"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ErrTypeKubeRejected is the error type of a request the Kubernetes API
// server refused for good (a 4xx other than a conflict or throttling): the
// same request would be refused again, so it is not retried.
const ErrTypeKubeRejected = "KubeRequestRejected"

// classify is applied once at the boundary of every activity of this
// package: an error that is already an application error keeps its
// classification; a Kubernetes status error with a 4xx code that a retry
// cannot fix (BadRequest, Forbidden, NotFound, MethodNotAllowed,
// NotAcceptable, RequestEntityTooLarge, UnsupportedMediaType, Invalid)
// becomes non-retryable. Unauthorized (401: a rotated token is re-read),
// Conflict (409), Gone (410, an expired watch), throttling (429), timeouts
// and 5xx stay retryable. NotFound that an activity expects (delete, create-if-absent)
// is handled before it gets here.
func classify(err error) error {
	if err == nil || temporal.IsApplicationError(err) {
		return err
	}
	if permanentKubeError(err) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeKubeRejected, err)
	}
	return err
}

// permanentKubeError reports a Kubernetes API error no retry can fix.
func permanentKubeError(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	switch st.Status().Code {
	case http.StatusForbidden:
		// A namespace a moment old may not have its default ServiceAccount
		// yet: the admission plugin refuses Pods until it exists.
		return !strings.Contains(st.Status().Message, "service account")
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusNotAcceptable, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
		http.StatusUnprocessableEntity:
		return true
	}
	return false
}
