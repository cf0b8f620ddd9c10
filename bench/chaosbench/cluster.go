package chaosbench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
)

// Delete deletes the cluster and its volumes.
func (b *Bench) Delete(ctx context.Context) error {
	var acc apiv1.OperationAccepted
	if err := b.Operator.Do(ctx, http.MethodDelete, "/v1/clusters/"+b.Cluster, url.Values{"namespace": {b.Namespace}, "deleteVolumes": {"true"}, "reason": {"chaos bench done"}}, nil, &acc); err != nil {
		return fmt.Errorf("delete %s: %w", b.Cluster, err)
	}
	o, err := b.WaitOperation(ctx, acc.OperationID, 5*time.Minute)
	if err == nil && o.Progress.Outcome != apiv1.OutcomeSucceeded {
		err = fmt.Errorf("delete %s ended %s/%s: %s", b.Cluster, o.Status, o.Progress.Outcome, o.Error)
	}
	return err
}

// OtherClusterImage is an image to upgrade the cluster to (the node agent
// runs every redis:* image with the local redis-server).
func (b *Bench) OtherClusterImage(ctx context.Context) (string, error) {
	c, err := b.cluster(ctx)
	if err != nil {
		return "", err
	}
	return OtherImage(c.Spec.Image), nil
}

// OtherImage is an image other than image for an upgrade on the local stack.
func OtherImage(image string) string {
	if image == "redis:7.0-next" {
		return "redis:7.0"
	}
	return "redis:7.0-next"
}
