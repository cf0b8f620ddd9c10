package porthold

// MarkerForTest is the marker file of port.
func MarkerForTest(port int) string { return marker(port) }
