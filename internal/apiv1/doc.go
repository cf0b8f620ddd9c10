// Package apiv1 holds the wire types of dayops' REST API (version 1): request
// bodies, responses, an operation's progress and the constants a client needs
// (operation types, outcomes, upgrade decisions and stages).
//
// It is the one package the API server and the CLI share, so it must stay
// light: it imports only the standard library and dayops' pure packages
// (spec, planner, topology), never the Temporal SDK, client-go or pgx. A REST
// client built on it links none of the server (see internal/cli's deps test).
//
// Several of these types are also recorded in Temporal histories (Progress
// inside workflow results, operation types inside inputs) and in backup
// manifests; their JSON shape is a contract: add fields, never rename or
// change the meaning of one. The packages they came from keep type aliases.
package apiv1
