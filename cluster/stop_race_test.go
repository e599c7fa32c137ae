package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/persistence/postgres/pgtest"
)

// A member drains (stops gracefully) while another keeps sending to
// identities it owns: the drain completes, race-free, and the identities
// answer from the remaining member.
func TestMemberStopsWhileMessagesFlow(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	cfg := fastPostgres(vayva.NewID("c"))
	a := startMember(t, db, cfg)
	b := startMember(t, db, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.Eventually(t, func() bool {
		ms, err := a.Members(ctx)
		return err == nil && len(ms) == 2 && a.Ready() && b.Ready()
	}, 10*time.Second, 20*time.Millisecond)

	// Senders on a, spread over identities so about half live on b.
	var (
		wg   sync.WaitGroup
		onB  atomic.Int64
		stop = make(chan struct{})
	)
	for s := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				st, err := add(rctx, a, fmt.Sprintf("flow-%d-%d", s, i%16), fmt.Sprintf("s%d-%d", s, i), 1)
				rcancel()
				if err == nil && st.Member == b.ID() {
					onB.Add(1)
				}
			}
		})
	}
	require.Eventually(t, func() bool { return onB.Load() >= 20 }, 20*time.Second, 10*time.Millisecond,
		"messages reach the second member")
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	require.NoError(t, b.Stop(sctx), "b drains while a sends to it")
	scancel()
	// The senders go on until their identities answer from a.
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	st, err := add(ctx, a, "flow-0-0", "after-stop", 1)
	require.NoError(t, err)
	require.Equal(t, a.ID(), st.Member, "the identities moved to the remaining member")
}

// protoactor-go's remote suspends its endpoint reader at shutdown while the
// reader's receive loops read the flag for every inbound message, on gRPC's
// goroutines. Here one actor system keeps sending to another while the
// other shuts its remote down gracefully, so messages arrive after the
// suspension: under -race this fails unless the flag is synchronised
// (third_party/protoactor-go/PATCHES.md, item 9).
func TestRemoteShutdownWhileMessagesArrive(t *testing.T) {
	t.Parallel()
	start := func() (*actor.ActorSystem, *remote.Remote) {
		sys := actor.NewActorSystem()
		r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0))
		r.Start()
		return sys, r
	}
	recvSys, recv := start()
	var got atomic.Int64
	sink, err := recvSys.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*wrapperspb.StringValue); ok {
			got.Add(1)
		}
	}), "sink")
	require.NoError(t, err)
	sendSys, send := start()
	t.Cleanup(func() { send.Shutdown(false) })
	target := actor.NewPID(recvSys.Address(), sink.Id)

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			sendSys.Root.Send(target, wrapperspb.String("m"))
			time.Sleep(100 * time.Microsecond)
		}
	})
	require.Eventually(t, func() bool { return got.Load() >= 100 }, 10*time.Second, 5*time.Millisecond, "messages arrive")
	recv.Shutdown(true)
	close(done)
	wg.Wait()
}
