package eventstore

import "github.com/dayops/dayops/internal/eventstore/roles"

// Database roles are package roles'; these names keep its callers as they
// were.
const RewriteSetting = roles.RewriteSetting

var (
	GrantWriter  = roles.GrantWriter
	GrantSigner  = roles.GrantSigner
	OwnerRewrite = roles.OwnerRewrite
)
