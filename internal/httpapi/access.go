package httpapi

import "github.com/dayops/dayops/internal/httpapi/access"

// The API's tokens and roles (Role, Principal, Tokens) are package access's;
// these names keep the configuration's callers (server, tests) as they were.
type (
	Role      = access.Role
	Principal = access.Principal
	Tokens    = access.Tokens
)

// Roles.
const (
	RoleOperator = access.RoleOperator
	RoleAuditor  = access.RoleAuditor
)

// ParseTokens reads "token=subject:role" entries separated by commas, as in
// DAYOPS_API_TOKENS (see access.ParseTokens).
func ParseTokens(s string) (Tokens, error) { return access.ParseTokens(s) }
