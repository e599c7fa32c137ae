package redis

import (
	"context"

	"github.com/vayvahq/vayva/auth"
)

// NewSubscription returns an unstarted revocation subscription, for the
// lifecycle test.
func NewSubscription(r *Revocations, l auth.RevocationListener) *subscription {
	return &subscription{r: r, ps: r.c.rdb.Subscribe(context.Background(), r.channel()), l: l}
}
