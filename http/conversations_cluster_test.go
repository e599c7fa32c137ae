package http_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/node/nodetest"
)

// The member that owns a conversation dies in the middle of a stream of
// its customer's messages: the other member takes the conversation and
// the partition over, and every message acknowledged to Meta is stored,
// once, in order.
func TestWhatsAppConversationSurvivesItsMembersDeath(t *testing.T) {
	t.Parallel()
	opts := nodetest.Options{ClusterProvider: "postgres", ClusterName: vayva.NewID("cluster")}
	first := catalogNode(t, opts)
	opts.DatabaseURL, opts.RedisPrefix = first.DatabaseURL, first.RedisPrefix
	second := catalogNode(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.Eventually(t, func() bool {
		ma, err := first.Member.Members(ctx)
		require.NoError(t, err)
		mb, err := second.Member.Members(ctx)
		require.NoError(t, err)
		return len(ma) == 2 && len(mb) == 2
	}, 30*time.Second, 20*time.Millisecond, "the members see each other")

	shop := newWAShop(t, first)
	const femi = "2348039990001"
	require.Equal(t, 200, postSigned(t, first, metaNotification(shop.pnid, femi, "wamid.k-first", "agent", time.Now())).status)
	conv := conversationOf(t, first, shop.token, femi)
	id := conv["id"].(string)
	require.Eventually(t, func() bool {
		return apiCall(t, first.BaseURL, "GET", "/v1/conversations/"+id, shop.token, nil).requireStatus(t, 200).str("mode") == "human"
	}, 20*time.Second, 20*time.Millisecond)

	// While the members settle who owns which identity, an activation can
	// start on one member and stop there as stale once the other takes it
	// (the fence at work); then no member holds it until the next message.
	// Warm-up messages, outside the counted stream, put it where it belongs.
	var owner, survivor *nodetest.Node
	warm := 0
	require.Eventually(t, func() bool {
		a := first.Member.ActivationCounts()[actors.ConversationKind]
		b := second.Member.ActivationCounts()[actors.ConversationKind]
		switch {
		case a == 1 && b == 0:
			owner, survivor = first, second
			return true
		case a == 0 && b == 1:
			owner, survivor = second, first
			return true
		}
		warm++
		postSigned(t, first, metaNotification(shop.pnid, femi, fmt.Sprintf("wamid.warm%03d", warm), "still there?", time.Now()))
		return false
	}, 30*time.Second, 200*time.Millisecond, "one member holds the conversation")

	const total, killAt = 100, 30
	for i := range total {
		if i == killAt {
			owner.Kill()
		}
		body := metaNotification(shop.pnid, femi, fmt.Sprintf("wamid.k%03d", i), fmt.Sprintf("k%03d", i), time.Now())
		// Meta redelivers until it gets a 200; so does this loop.
		require.Eventually(t, func() bool { return postSigned(t, survivor, body).status == 200 }, 30*time.Second, 50*time.Millisecond)
	}
	var texts []string
	require.Eventually(t, func() bool {
		texts = texts[:0]
		rows, err := survivor.DB.Pool().Query(ctx, `SELECT text FROM comm.whatsapp_messages
			WHERE conversation_id = $1 AND direction = 'inbound' AND wamid LIKE 'wamid.k0%' ORDER BY seq`, id)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			texts = append(texts, s)
		}
		return len(texts) >= total
	}, 90*time.Second, 100*time.Millisecond, "stored %d of %d", len(texts), total)
	var want []string
	for i := range total {
		want = append(want, fmt.Sprintf("k%03d", i))
	}
	require.Equal(t, want, texts, "no message lost, none twice, order kept")
	require.EqualValues(t, 1, survivor.Member.ActivationCounts()[actors.ConversationKind], "the conversation moved to the survivor")
}
