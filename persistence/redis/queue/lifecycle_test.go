package queue

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/internal/startstop/startstoptest"
)

// A consumer keeps the start/stop semantics every long-lived component
// shares, on an unordered and a partitioned queue at once.
func TestConsumerLifecycle(t *testing.T) {
	b := newBroker(t, newRC(t), nil)
	var n atomic.Int64
	startstoptest.Check(t, func(t *testing.T) startstoptest.Service {
		c, err := b.NewConsumer(fmt.Sprintf("life-%d", n.Add(1)))
		require.NoError(t, err)
		h := func(context.Context, Job) error { return nil }
		require.NoError(t, c.Consume(context.Background(), vayva.QueueEmail, h, ConsumeOptions{}))
		require.NoError(t, c.Consume(context.Background(), vayva.QueueWhatsAppOutbound, h, ConsumeOptions{}))
		return c
	})
}
