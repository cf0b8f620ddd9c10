package benchkit

import (
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/kube/render"
)

// PodAddr is the address of the redis-server of the Pod with IP ip.
func PodAddr(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(render.RedisPort)) }

// PodClient is a client of the redis-server of the Pod with IP ip (the
// caller closes it), every dial, read and write bounded by timeout.
func PodClient(ip, password string, timeout time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: PodAddr(ip), Password: password,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout})
}
