/*
 * The table's log records: remotes.c's messages, levels and fields, with
 * remote_ip built when a record is written (there is no per-remote
 * logger), each kind through its own rate limiter (bunyan.RateLimiter,
 * bunyan.DefaultRate, in the process's bunyan.Limits, whose one timer
 * writes the summaries) because client input triggers all of them. Go's
 * extra fields: primary_be_id on the backup record, last_seen on expiry
 * and eviction, spread on rebalancing. Eviction and untracked service are Go's own
 * records (the C table had no cap).
 */

package remote

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
)

// Messages (remotes.c's, and Go's own for the cap).
const (
	msgNewPeer    = "new remote peer"
	msgAssigned   = "remote assigned to new primary backend"
	msgBackup     = "remote assigned to new backup backend"
	msgReturned   = "remote assigned to original primary backend"
	msgExpired    = "expiring remote entry"
	msgRebalanced = "rebalancing to reduce spread"
	msgEvicted    = "remote table full: evicting least recently seen remote"
	msgUntracked  = "remote table full of active remotes: serving new client untracked"
)

// records holds one limiter per kind of record.
type records struct {
	log                                               zerolog.Logger
	newPeerL, assignedL, backupL, returnedL, expiredL *bunyan.RateLimiter
	rebalancedL, evictedL, untrackedL                 *bunyan.RateLimiter
}

func (c *records) init(log zerolog.Logger, limits *bunyan.Limits) {
	lim := func(level zerolog.Level, msg string) *bunyan.RateLimiter {
		return limits.New(log, level, msg, bunyan.DefaultRate)
	}
	c.log = log
	c.newPeerL = lim(zerolog.InfoLevel, msgNewPeer)
	c.assignedL = lim(zerolog.InfoLevel, msgAssigned)
	c.backupL = lim(zerolog.InfoLevel, msgBackup)
	c.returnedL = lim(zerolog.InfoLevel, msgReturned)
	c.expiredL = lim(zerolog.InfoLevel, msgExpired)
	c.rebalancedL = lim(zerolog.InfoLevel, msgRebalanced)
	c.evictedL = lim(zerolog.InfoLevel, msgEvicted)
	c.untrackedL = lim(zerolog.WarnLevel, msgUntracked)
}

// limiters lists every kind's limiter.
func (c *records) limiters() [8]*bunyan.RateLimiter {
	return [...]*bunyan.RateLimiter{c.newPeerL, c.assignedL, c.backupL, c.returnedL,
		c.expiredL, c.rebalancedL, c.evictedL, c.untrackedL}
}

// Suppressed is the number of the table's records suppressed by the rate
// limits since it was made.
func (c *records) suppressed() uint64 {
	var n uint64
	for _, l := range c.limiters() {
		n += l.Suppressed()
	}
	return n
}

func (c *records) newPeer(now time.Time, addr uint32) {
	if c.newPeerL.Allow(now) {
		bunyan.IPv4(c.log.Info(), "remote_ip", addr).Msg(msgNewPeer)
	}
}

func (c *records) assigned(now time.Time, addr, be uint32) {
	if c.assignedL.Allow(now) {
		bunyan.IPv4(c.log.Info(), "remote_ip", addr).Uint32("be_id", be).Msg(msgAssigned)
	}
}

func (c *records) backup(now time.Time, addr, be, primary uint32) {
	if c.backupL.Allow(now) {
		bunyan.IPv4(c.log.Info(), "remote_ip", addr).Uint32("be_id", be).Uint32("primary_be_id", primary).Msg(msgBackup)
	}
}

func (c *records) returned(now time.Time, addr, be uint32) {
	if c.returnedL.Allow(now) {
		bunyan.IPv4(c.log.Info(), "remote_ip", addr).Uint32("be_id", be).Msg(msgReturned)
	}
}

func (c *records) expired(now time.Time, addr uint32, lastSeen int64) {
	if c.expiredL.Allow(now) {
		bunyan.IPv4(c.log.Info(), "remote_ip", addr).Time("last_seen", time.Unix(0, lastSeen)).Msg(msgExpired)
	}
}

func (c *records) rebalanced(now time.Time, addr, be uint32, spread int) {
	if c.rebalancedL.Allow(now) {
		bunyan.IPv4(c.log.Info(), "remote_ip", addr).Uint32("be_id", be).Int("spread", spread).Msg(msgRebalanced)
	}
}

func (c *records) evicted(now time.Time, addr uint32, lastSeen int64, max int) {
	if c.evictedL.Allow(now) {
		bunyan.IPv4(c.log.Info(), "remote_ip", addr).Time("last_seen", time.Unix(0, lastSeen)).
			Int("max_remotes", max).Msg(msgEvicted)
	}
}

func (c *records) untracked(now time.Time, addr uint32, max int) {
	if c.untrackedL.Allow(now) {
		bunyan.IPv4(c.log.Warn(), "remote_ip", addr).Int("max_remotes", max).Msg(msgUntracked)
	}
}
