package failover

// HandedOver and RoleWait are handedOver and roleWait for the external
// tests.
var HandedOver = handedOver

const RoleWait = roleWait
