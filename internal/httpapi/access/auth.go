// Package access is who may call the API and what is recorded of each call:
// bearer tokens and their roles (Authenticate, Secured), and the wrapper
// that writes an audit event for every refused, sensitive or cancelling
// request (Recorder).
package access

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// Role says what a token may do.
type Role string

// Roles.
const (
	RoleOperator Role = "operator"
	RoleAuditor  Role = "auditor"
)

// Principal is who a token belongs to.
type Principal struct {
	Subject string
	Role    Role
}

// Tokens maps bearer tokens to principals.
type Tokens map[string]Principal

// ParseTokens reads "token=subject:role" entries separated by commas, as in
// DAYOPS_API_TOKENS. Every problem is reported at once.
func ParseTokens(s string) (Tokens, error) {
	out := Tokens{}
	var errs []error
	for i, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		tok, rest, ok1 := strings.Cut(e, "=")
		sub, role, ok2 := strings.Cut(rest, ":")
		switch {
		case !ok1 || !ok2 || tok == "" || sub == "":
			errs = append(errs, fmt.Errorf("token entry %d: want token=subject:role", i+1))
		case Role(role) != RoleOperator && Role(role) != RoleAuditor:
			errs = append(errs, fmt.Errorf("token entry %d: role %q is not operator or auditor", i+1, role))
		case len(tok) < 16:
			errs = append(errs, fmt.Errorf("token entry %d: token is shorter than 16 characters", i+1))
		case placeholderToken(tok) != "":
			errs = append(errs, fmt.Errorf("token entry %d (%s): %s; generate one, e.g. `openssl rand -hex 24`", i+1, sub, placeholderToken(tok)))
		default:
			out[tok] = Principal{Subject: sub, Role: Role(role)}
		}
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no API token configured"))
	}
	return out, errors.Join(errs...)
}

// placeholderWords are what sample configurations put in a token's place.
var placeholderWords = []string{"changeme", "replaceme", "placeholder", "example", "dummy", "sample", "default",
	"secret", "password", "token", "test", "admin", "operator", "auditor", "dayops", "xxx"}

// placeholderToken says why a token looks like a placeholder rather than a
// generated secret ("" when it does not): it contains "change me" or a like
// phrase, or what is left once the usual placeholder words, separators and
// repeats are taken out has fewer than 16 characters or fewer than 8
// distinct ones. A hex or base64 string of 16 random bytes or more passes.
func placeholderToken(tok string) string {
	low := strings.ToLower(tok)
	squeezed := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r == ' ' {
			return -1
		}
		return r
	}, low)
	for _, w := range []string{"changeme", "replaceme", "placeholder", "example"} {
		if strings.Contains(squeezed, w) {
			return fmt.Sprintf("the token is a placeholder (contains %q)", w)
		}
	}
	rest := squeezed
	for _, w := range placeholderWords {
		rest = strings.ReplaceAll(rest, w, "")
	}
	distinct := map[rune]bool{}
	for _, r := range rest {
		distinct[r] = true
	}
	if len(rest) < 16 || len(distinct) < 8 {
		return "the token looks like a placeholder (too little randomness once common words are removed)"
	}
	return ""
}

// lookup finds the principal of a presented token. It compares SHA-256
// digests in constant time and always visits every entry, so neither the
// length of a configured token nor which entry matched shows in the time
// a request takes.
func (t Tokens) lookup(token string) (Principal, bool) {
	got := sha256.Sum256([]byte(token))
	var found Principal
	ok := 0
	for k, p := range t {
		want := sha256.Sum256([]byte(k))
		if subtle.ConstantTimeCompare(want[:], got[:]) == 1 {
			found, ok = p, 1
		}
	}
	return found, ok == 1
}

type principalKey struct{}

// Caller returns the authenticated caller of a request.
func Caller(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// metaRole is the Operation.Metadata key naming the role an operation needs.
const metaRole = "dayops-role"

// Secured marks op as needing a bearer token of role (an operator token
// passes for an auditor's calls too).
func Secured(role Role, op huma.Operation) huma.Operation {
	op.Security = []map[string][]string{{"bearer": {}}}
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[metaRole] = role
	op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden)
	return op
}

// Authenticate is the huma middleware that authenticates every operation
// that declares a role (Secured).
func Authenticate(api huma.API, tokens Tokens) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		need, ok := ctx.Operation().Metadata[metaRole].(Role)
		if !ok {
			next(ctx)
			return
		}
		h := ctx.Header("Authorization")
		tok, found := strings.CutPrefix(h, "Bearer ")
		if !found || tok == "" {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="dayops"`)
			huma.WriteErr(api, ctx, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
			return
		}
		p, ok := tokens.lookup(tok)
		if !ok {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="dayops", error="invalid_token"`)
			huma.WriteErr(api, ctx, http.StatusUnauthorized, "unknown bearer token")
			return
		}
		if need == RoleOperator && p.Role != RoleOperator {
			huma.WriteErr(api, ctx, http.StatusForbidden, fmt.Sprintf("%s has role %s; this call needs role operator", p.Subject, p.Role))
			return
		}
		next(huma.WithValue(ctx, principalKey{}, p))
	}
}
