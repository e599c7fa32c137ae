package http_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/node/nodetest"
)

// untilAnswered sends a command until the store gives a definite answer:
// an outcome-unknown failure (the store moving, a timeout) is retried with
// the same command id, so it is applied once whatever happened before.
func untilAnswered[T proto.Message](ctx context.Context, m *cluster.Member, storeID string, msg proto.Message) (T, error) {
	for {
		out, err := cluster.Request[T](ctx, m, actors.StoreKind, storeID, msg)
		if vayva.ErrorCode(err) != vayva.EUNAVAILABLE || ctx.Err() != nil {
			return out, err
		}
	}
}

// Many customers reserve the last units of a variant while the store's
// identity moves from one member to the other: the stock is never
// oversold, every answer is kept, and the member the store moved to holds
// exactly what the database holds.
func TestReservationsNeverOversellWhileTheStoreMoves(t *testing.T) {
	t.Parallel()
	opts := nodetest.Options{ClusterProvider: "postgres", ClusterName: vayva.NewID("cluster")}
	first := catalogNode(t, opts)
	opts.DatabaseURL, opts.RedisPrefix = first.DatabaseURL, first.RedisPrefix
	second := catalogNode(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.Eventually(t, func() bool {
		ma, err := first.Member.Members(ctx)
		require.NoError(t, err)
		mb, err := second.Member.Members(ctx)
		require.NoError(t, err)
		return len(ma) == 2 && len(mb) == 2
	}, 30*time.Second, 20*time.Millisecond, "the members see each other")

	const stock = 50
	m := signup(t, first.BaseURL, "Last Units")
	p := apiCall(t, first.BaseURL, "POST", "/v1/products", m.token, map[string]any{
		"title": "Limited print", "status": "active",
		"variants": []map[string]any{{"sku": "LTD", "title": "One size", "price": 900000, "inventory_quantity": stock}},
	}).requireStatus(t, 201)
	variant := variantsOf(p.Body)[0]["id"].(string)

	// The store runs on one member; customers reach it through the other,
	// which that member then leaves.
	owner, survivor := ownerOf(t, first, second, m.storeID)
	var startEpoch int64
	require.NoError(t, first.DB.Pool().QueryRow(ctx, `SELECT epoch FROM runtime.actors WHERE kind = 'store' AND identity = $1`, m.storeID).Scan(&startEpoch))

	const customers, rounds = 200, 3
	var (
		done                        atomic.Int64
		reserved, refused, released atomic.Int64
		wg                          sync.WaitGroup
		errs                        = make(chan error, customers)
		halfway                     = make(chan struct{})
		once                        sync.Once
	)
	for c := range customers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				id := fmt.Sprintf("ord_%d_%d", c, r)
				_, err := untilAnswered[*messages.Reservation](ctx, survivor.Member, m.storeID, &messages.ReserveItems{
					CommandId: "reserve:" + id, ReservationId: id, ExpiresAtUnixMs: time.Now().Add(time.Hour).UnixMilli(),
					Items: []*messages.ReservationItem{{VariantId: variant, Quantity: 1}},
				})
				switch vayva.ErrorCode(err) {
				case "":
					reserved.Add(1)
					// Every other held unit goes back, so stock keeps moving.
					if (c+r)%2 == 0 {
						if _, err := untilAnswered[*messages.Reservation](ctx, survivor.Member, m.storeID, &messages.ReleaseReservation{
							CommandId: "release:" + id, ReservationId: id,
						}); err != nil {
							errs <- fmt.Errorf("release %s: %w", id, err)
							return
						}
						released.Add(1)
					}
				case vayva.EINSUFFICIENTSTOCK:
					refused.Add(1)
				default:
					errs <- fmt.Errorf("reserve %s: %w", id, err)
					return
				}
				if done.Add(1) == customers*rounds/4 {
					once.Do(func() { close(halfway) })
				}
			}
		}()
	}
	select {
	case <-halfway:
	case <-ctx.Done():
		t.Fatal("reservations made no progress")
	}
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	require.NoError(t, owner.Stop(stopCtx))
	stopCancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	held := reserved.Load() - released.Load()
	t.Logf("reserved %d, released %d, refused %d", reserved.Load(), released.Load(), refused.Load())
	require.Equal(t, int64(customers*rounds), reserved.Load()+refused.Load())
	require.Positive(t, refused.Load(), "demand exceeded the stock")
	require.LessOrEqual(t, held, int64(stock), "never oversold")

	var onHand, dbReserved, active, epoch int64
	require.NoError(t, survivor.DB.Pool().QueryRow(ctx, `
		SELECT v.on_hand, v.reserved,
			(SELECT count(*) FROM catalog.reservations WHERE store_id = $2 AND status = 'active'),
			(SELECT epoch FROM runtime.actors WHERE kind = 'store' AND identity = $2)
		FROM catalog.variants v WHERE v.id = $1`, variant, m.storeID).Scan(&onHand, &dbReserved, &active, &epoch))
	require.Equal(t, int64(stock), onHand)
	require.Equal(t, held, dbReserved, "reserved equals the reservations acknowledged and not released")
	require.Equal(t, held, active)
	require.Greater(t, epoch, startEpoch, "the store was activated again on the survivor")
	require.EqualValues(t, 1, survivor.Member.ActivationCounts()[actors.StoreKind])

	// The survivor's state, reloaded from the database, matches it.
	got, err := untilAnswered[*messages.Product](ctx, survivor.Member, m.storeID, &messages.GetProduct{ProductId: p.str("id")})
	require.NoError(t, err)
	require.Equal(t, onHand, got.GetVariants()[0].GetOnHand())
	require.Equal(t, dbReserved, got.GetVariants()[0].GetReserved())
	require.Equal(t, onHand-dbReserved, got.GetVariants()[0].GetAvailable())
	sf := apiCall(t, survivor.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products", "", nil).requireStatus(t, 200)
	require.EqualValues(t, onHand-dbReserved, variantsOf(sf.list()[0])[0]["available"])
}

// The node's own reminder scheduler expires an unpaid reservation and the
// storefront shows the stock again.
func TestReservationExpiresOnTheNode(t *testing.T) {
	t.Parallel()
	n := catalogNode(t, nodetest.Options{})
	m := signup(t, n.BaseURL, "Quick Sale")
	p := apiCall(t, n.BaseURL, "POST", "/v1/products", m.token, product("Fan", "active", "FAN")).requireStatus(t, 201)
	variant := variantsOf(p.Body)[0]["id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cluster.Request[*messages.Reservation](ctx, n.Member, actors.StoreKind, m.storeID, &messages.ReserveItems{
		CommandId: vayva.NewID("cmd"), ReservationId: "ord_fan", ExpiresAtUnixMs: time.Now().Add(200 * time.Millisecond).UnixMilli(),
		Items: []*messages.ReservationItem{{VariantId: variant, Quantity: 4}},
	})
	require.NoError(t, err)
	available := func() float64 {
		r := apiCall(t, n.BaseURL, "GET", "/v1/storefront/"+m.slug+"/products/"+p.str("id"), "", nil).requireStatus(t, 200)
		return variantsOf(r.Body)[0]["available"].(float64)
	}
	require.EqualValues(t, 6, available())
	require.Eventually(t, func() bool { return available() == 10 }, 20*time.Second, 50*time.Millisecond)
	var status string
	require.NoError(t, n.DB.Pool().QueryRow(ctx, `SELECT status FROM catalog.reservations WHERE id = 'ord_fan'`).Scan(&status))
	require.Equal(t, "expired", status)
}
