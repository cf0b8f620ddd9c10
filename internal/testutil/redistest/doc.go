// Package redistest starts real redis-server processes in cluster mode for
// tests and benchmarks, builds clusters with the project's own clusteradmin
// functions (never redis-cli), and provides a writer that records every
// acknowledged write so a test can prove nothing acknowledged was lost.
//
// Processes listen on 127.0.0.1 only, on free ports found by binding, with
// their data in a temporary directory; Close (or the test's cleanup when the
// cluster was made with New) kills them and removes the directory. The
// machine's own Redis (6379) is never touched.
package redistest
