package node

import (
	"github.com/vayvahq/vayva/cluster"
	vhttp "github.com/vayvahq/vayva/http"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/worker"
)

// The storage interfaces the edge, the workers and the cluster member
// declare are implemented by the PostgreSQL repositories this package
// wires to them. The checks live here, where both sides meet, so that
// neither http, worker nor cluster has to import persistence/postgres.
var (
	_ vhttp.IdempotencyStore     = (*postgres.DB)(nil)
	_ vhttp.LedgerChecker        = (*postgres.DB)(nil)
	_ vhttp.OutboxMonitor        = (*postgres.DB)(nil)
	_ vhttp.OrderReader          = (*postgres.Orders)(nil)
	_ vhttp.StoreDirectory       = (*postgres.StoreDirectory)(nil)
	_ vhttp.WebhookEndpointStore = (*postgres.Webhooks)(nil)
	_ worker.WebhookStore        = (*postgres.Webhooks)(nil)
	_ worker.EmailLogStore       = (*postgres.EmailLogs)(nil)
	_ worker.OutboxLeader        = (*postgres.OutboxLeader)(nil)
	_ cluster.MembershipStore    = (*postgres.DB)(nil)
	_ vhttp.ConversationReader   = (*postgres.Conversations)(nil)
	_ worker.WhatsAppRouter      = (*postgres.WhatsAppRoutes)(nil)
)
