package clusteradmin

// SetBeforeCommit sets the copy path's test hook.
func (a *Admin) SetBeforeCommit(f func(slot, attempt int)) { a.beforeCommit = f }
