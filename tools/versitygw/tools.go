//go:build tools

// Package tools pins versitygw (an S3-compatible gateway; its posix backend
// serves a local directory over the S3 API) in a module of its own, so that
// its dependency graph never touches the main module. scripts/build-tools.sh
// builds it into bin/versitygw; internal/testutil/s3test starts it for tests
// of the S3 backup store.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
