package model

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Category is the kind of a stream: the part of its name before the first '-'.
type Category string

// The known stream categories. Appending to any other category is refused.
const (
	CategoryCluster   Category = "cluster"
	CategoryOperation Category = "operation"
	// CategoryAPI holds what was asked of the API that names neither a
	// cluster nor an operation (a refused request with a malformed body).
	CategoryAPI Category = "api"
)

func (c Category) known() bool {
	return c == CategoryCluster || c == CategoryOperation || c == CategoryAPI
}

// StreamName names one stream: "<category>-<id>", for example
// "cluster-orders" or "operation-0194f1c2".
type StreamName struct {
	Category Category
	ID       string
}

// ClusterStream is the stream of one Redis cluster.
func ClusterStream(cluster string) StreamName {
	return StreamName{Category: CategoryCluster, ID: cluster}
}

// OperationStream is the stream of one operation.
func OperationStream(operationID string) StreamName {
	return StreamName{Category: CategoryOperation, ID: operationID}
}

func (s StreamName) String() string { return string(s.Category) + "-" + s.ID }

// ParseStream splits "<category>-<id>"; the category must be known.
func ParseStream(name string) (StreamName, error) {
	cat, id, ok := strings.Cut(name, "-")
	s := StreamName{Category: Category(cat), ID: id}
	if !ok {
		return s, &InvalidEventError{Index: -1, Err: fmt.Errorf("%w: stream %q has no '-'", ErrUnknownCategory, name)}
	}
	if err := s.Validate(); err != nil {
		return s, &InvalidEventError{Index: -1, Err: err}
	}
	return s, nil
}

// Validate checks that the category is known and the id is non-empty
// UTF-8 text without NUL, at most 1024 bytes.
func (s StreamName) Validate() error {
	if !s.Category.known() {
		return fmt.Errorf("%w: %q (known: cluster, operation, api)", ErrUnknownCategory, s.Category)
	}
	if s.ID == "" {
		return fmt.Errorf("%w: stream %q", ErrEmptyStreamID, s.String())
	}
	if !utf8.ValidString(s.ID) || strings.ContainsRune(s.ID, 0) || len(s.ID) > 1024 {
		return fmt.Errorf("%w: stream id must be UTF-8 text without NUL, at most 1024 bytes", ErrBadMetadata)
	}
	return nil
}

// ExpectedVersion is the optimistic-concurrency condition of an append.
// Stream versions count events: the first event of a stream has version 1,
// so a stream that does not exist is at version 0.
type ExpectedVersion struct {
	kind    int // 0 any, 1 no stream, 2 exact
	version int64
}

// Any accepts whatever the stream's current version is.
func Any() ExpectedVersion { return ExpectedVersion{} }

// NoStream requires the stream to have no events yet.
func NoStream() ExpectedVersion { return ExpectedVersion{kind: 1} }

// Exact requires the stream's current version (its number of events) to be n.
// Exact(0) is the same as NoStream.
func Exact(n int64) ExpectedVersion { return ExpectedVersion{kind: 2, version: n} }

func (e ExpectedVersion) String() string {
	switch e.kind {
	case 0:
		return "any"
	case 1:
		return "no stream"
	default:
		return fmt.Sprintf("%d", e.version)
	}
}

// Matches says whether a stream at version actual satisfies e.
func (e ExpectedVersion) Matches(actual int64) bool {
	switch e.kind {
	case 0:
		return true
	case 1:
		return actual == 0
	default:
		return actual == e.version
	}
}
