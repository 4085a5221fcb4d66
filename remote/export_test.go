package remote

import "github.com/joyent/mname-balancer/backend"

// What the tests read of a remote's backends (the operator's view is
// AppendInfo).

// PrimaryOf is the remote's primary backend (nil: none yet).
func (t *Table) PrimaryOf(r *Remote) *backend.Backend { return t.lookup(r.primary) }

// BackupOf is the remote's backup backend (nil: none).
func (t *Table) BackupOf(r *Remote) *backend.Backend { return t.lookup(r.backup) }

// PrimaryID is the ID of the backend the remote sticks to (0: none yet).
func (r *Remote) PrimaryID() uint32 { return r.primary }

func (t *Table) lookup(id uint32) *backend.Backend {
	if id == 0 {
		return nil
	}
	return t.set.Lookup(id)
}
